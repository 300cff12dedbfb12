// Stand-in for a session-recording tag (e.g. Hotjar). Served only after "session_recording" was granted.
(window.__accordDemo = window.__accordDemo || {}).session_recording = true;
document.documentElement.dataset.demoSessionRecording = "loaded";
