// Stand-in for a CRM/marketing tag (e.g. HubSpot). Served only after "marketing" was granted.
(window.__accordDemo = window.__accordDemo || {}).marketing = true;
document.documentElement.dataset.demoMarketing = "loaded";
