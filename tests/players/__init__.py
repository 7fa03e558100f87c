"""The real-player test harness: content built once per session, and drivers for ffmpeg/ffprobe,
GStreamer and hls.js/dash.js in headless Chromium. Each module has one job; tests/test_players_matrix.py
runs every (content x player x endpoint) that applies."""
