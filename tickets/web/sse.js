/* Triage Desk: a server-sent-events frame reader shared by the agent workspace and the chat widget.
 * EventSource cannot send an Authorization header, so the pages fetch the stream themselves and hand
 * the body's reader to TriageSSE.read, which calls onFrame({id, type, data}) for each complete event
 * and onComment(text) for comment lines (": connected", ": heartbeat"). */
(function () {
  "use strict";

  async function read(reader, options) {
    var decoder = new TextDecoder();
    var buffer = "";
    var frame = { id: null, type: "message", data: [] };
    for (;;) {
      var chunk = await reader.read();
      if (chunk.done || !options.isCurrent()) return;
      if (options.onChunk) options.onChunk();
      buffer += decoder.decode(chunk.value, { stream: true });
      var lines = buffer.split("\n");
      buffer = lines.pop();
      for (var i = 0; i < lines.length; i++) {
        var line = lines[i].replace(/\r$/, "");
        if (line === "") {
          if (frame.data.length) options.onFrame(frame);
          frame = { id: null, type: "message", data: [] };
          continue;
        }
        if (line.charAt(0) === ":") {
          if (options.onComment) options.onComment(line.slice(1).trim());
          continue;
        }
        var colon = line.indexOf(":");
        var field = colon < 0 ? line : line.slice(0, colon);
        var value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "id") frame.id = value;
        else if (field === "event") frame.type = value;
        else if (field === "data") frame.data.push(value);
      }
    }
  }

  window.TriageSSE = { read: read };
})();
