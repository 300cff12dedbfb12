// Stand-in for an analytics tag (e.g. Google Analytics). Served only to visitors who granted
// "analytics"; it records that it ran so tests and demos can see the gate work.
(window.__accordDemo = window.__accordDemo || {}).analytics = true;
document.documentElement.dataset.demoAnalytics = "loaded";
