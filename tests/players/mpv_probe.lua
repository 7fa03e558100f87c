-- Reports how far mpv played: the last video position, the duration it announced, why it stopped.
-- Printed at shutdown, not at end-file: property changes still queued when the file ends (the last
-- time-pos among them) are delivered to the observers before the shutdown event.
local last, duration, reason = nil, nil, "none"
mp.observe_property("time-pos", "native", function(_, v) if v then last = v end end)
mp.observe_property("duration", "native", function(_, v) if v then duration = v end end)
mp.register_event("end-file", function(e) reason = tostring(e.reason) end)
mp.register_event("shutdown", function()
  io.write(string.format("PLAYED %s %s %s\n", reason, tostring(last), tostring(duration)))
  io.flush()
end)
