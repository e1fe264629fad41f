-- locus.kernel.crypto: HMAC-SHA256 (Jupyter's message signatures), base64 (PNG in JSON) and random
-- ids, from OpenSSL's libcrypto (Debian's libssl3) through the FFI.
local ffi = require "ffi"

ffi.cdef [[
typedef struct evp_md_st EVP_MD;
const EVP_MD *EVP_sha256(void);
unsigned char *HMAC(const EVP_MD *evp_md, const void *key, int key_len, const unsigned char *data, size_t data_len,
                    unsigned char *md, unsigned int *md_len);
int EVP_EncodeBlock(unsigned char *t, const unsigned char *f, int n);
int RAND_bytes(unsigned char *buf, int num);
int CRYPTO_memcmp(const void *a, const void *b, size_t len);
]]

local lib = ffi.load("libcrypto.so.3")

local crypto = {}

local function hex(buf, n)
  local out = {}
  for i = 0, n - 1 do out[#out + 1] = ("%02x"):format(buf[i]) end
  return table.concat(out)
end

-- The hex HMAC-SHA256 of the concatenated parts under key.
function crypto.hmac_sha256_hex(key, parts)
  local data = table.concat(parts)
  local md, len = ffi.new("unsigned char[32]"), ffi.new("unsigned int[1]")
  if lib.HMAC(lib.EVP_sha256(), key, #key, data, #data, md, len) == nil then error("HMAC-SHA256 failed") end
  return hex(md, len[0])
end

-- a == b without an early exit (a signature check that leaks no timing)
function crypto.equal(a, b) return #a == #b and lib.CRYPTO_memcmp(a, b, #a) == 0 end

function crypto.base64(s)
  local out = ffi.new("unsigned char[?]", 4 * math.ceil(#s / 3) + 1)
  local n = lib.EVP_EncodeBlock(out, s, #s)
  return ffi.string(out, n)
end

-- A random UUID (version 4) as text.
function crypto.uuid()
  local b = ffi.new("unsigned char[16]")
  if lib.RAND_bytes(b, 16) ~= 1 then error("RAND_bytes failed") end
  b[6] = bit.bor(bit.band(b[6], 0x0f), 0x40)
  b[8] = bit.bor(bit.band(b[8], 0x3f), 0x80)
  local h = hex(b, 16)
  return ("%s-%s-%s-%s-%s"):format(h:sub(1, 8), h:sub(9, 12), h:sub(13, 16), h:sub(17, 20), h:sub(21, 32))
end

return crypto
