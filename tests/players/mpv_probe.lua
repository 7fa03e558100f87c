-- Reports how far mpv played: the last video position, the duration it announced, why it stopped.
local last, duration = nil, nil
mp.observe_property("time-pos", "native", function(_, v) if v then last = v end end)
mp.observe_property("duration", "native", function(_, v) if v then duration = v end end)
mp.register_event("end-file", function(e)
  io.write(string.format("PLAYED %s %s %s\n", tostring(e.reason), tostring(last), tostring(duration)))
  io.flush()
end)
