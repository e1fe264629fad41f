-- locus.kernel.wire: Jupyter's messages on the wire (messaging protocol 5.3).
--
-- A message is a multipart ZeroMQ message:
--   [identities...] "<IDS|MSG>" signature header parent_header metadata content [buffers...]
-- header, parent_header, metadata and content are JSON; signature is the hex HMAC-SHA256 of those
-- four frames under the connection file's key ("" when the key is empty). A message whose
-- signature does not match is not a message: decode returns nil and the reason.
local crypto = require "locus.kernel.crypto"
local json = require "locus.json"
local cjson = require "cjson"

local wire = {}

wire.DELIMITER = "<IDS|MSG>"
wire.PROTOCOL_VERSION = "5.3"

local Session = {}
Session.__index = Session

-- key: the connection file's key; scheme: its signature_scheme (only hmac-sha256 is defined)
function wire.session(key, scheme)
  if key ~= "" and scheme ~= "hmac-sha256" then
    error(("kernel: signature scheme '%s' is not supported (hmac-sha256 is)"):format(tostring(scheme)), 0)
  end
  return setmetatable({ key = key, id = crypto.uuid(), username = os.getenv("USER") or "locus" }, Session)
end

function Session:sign(parts)
  if self.key == "" then return "" end
  return crypto.hmac_sha256_hex(self.key, parts)
end

local function now_iso()
  local clock = require("locus.core").clock
  local t = os.time()
  return os.date("!%Y-%m-%dT%H:%M:%S", t) .. (".%06dZ"):format(math.floor((clock() % 1) * 1e6))
end

-- The frames of a new message of type msg_type, in reply to (or caused by) parent, a decoded
-- message or nil; identities: the ZeroMQ routing ids to put in front (a reply's are its request's).
function Session:frames(msg_type, content, parent, identities, metadata)
  local header = json.object({ msg_id = crypto.uuid(), session = self.id, username = self.username, date = now_iso(),
    msg_type = msg_type, version = wire.PROTOCOL_VERSION }, { "msg_id", "session", "username", "date", "msg_type", "version" })
  local parts = { json.encode(header), parent and parent.raw_header or "{}", json.encode(json.object(metadata or {})),
    json.encode(content) }
  local frames = {}
  for _, id in ipairs(identities or {}) do frames[#frames + 1] = id end
  frames[#frames + 1] = wire.DELIMITER
  frames[#frames + 1] = self:sign(parts)
  for _, p in ipairs(parts) do frames[#frames + 1] = p end
  return frames
end

-- frames -> {identities, header, parent_header, metadata, content, buffers, raw_header}, or nil
-- and why it is not a message.
function Session:decode(frames)
  local at
  for i, f in ipairs(frames) do
    if f == wire.DELIMITER then
      at = i
      break
    end
  end
  if not at or #frames < at + 5 then return nil, "not a Jupyter message (no <IDS|MSG> and five frames)" end
  local parts = { frames[at + 2], frames[at + 3], frames[at + 4], frames[at + 5] }
  if self.key ~= "" and not crypto.equal(self:sign(parts), frames[at + 1]) then return nil, "bad signature" end
  local decoded = {}
  for i, p in ipairs(parts) do
    local ok, v = pcall(cjson.decode, p)
    if not ok or type(v) ~= "table" then return nil, "a frame is not a JSON object" end
    decoded[i] = v
  end
  if type(decoded[1].msg_type) ~= "string" then return nil, "the header has no msg_type" end
  local msg = { identities = {}, header = decoded[1], parent_header = decoded[2], metadata = decoded[3],
    content = decoded[4], raw_header = parts[1], buffers = {} }
  for i = 1, at - 1 do msg.identities[i] = frames[i] end
  for i = at + 6, #frames do msg.buffers[#msg.buffers + 1] = frames[i] end
  return msg
end

return wire
