-- locus.utf8: text that is always valid UTF-8. A model's answer is decoded from byte tokens, so it
-- can stop inside a character or hold bytes that form none; those bytes become U+FFFD, one per
-- byte, as sentencepiece's decoder and Hugging Face's byte-fallback decoder replace them.
--
--   utf8.clean("ok\xe1")           --> "ok\u{FFFD}"
--   utf8.clean_prefix("ok\xe6\x97") --> "ok", "\xe6\x97"  (a character that may still be completed)
local utf8 = {}

utf8.REPLACEMENT = "\239\191\189" -- U+FFFD

-- The bytes of a valid sequence starting at byte i of s: its length, or 0 when the bytes cannot
-- start one, or -1 when s ends before a sequence that is valid so far is complete (RFC 3629: no
-- overlong forms, no surrogates, nothing above U+10FFFF).
local function sequence_length(s, i)
  local b = s:byte(i)
  if b < 0x80 then return 1 end
  local n, lo, hi
  if b >= 0xc2 and b <= 0xdf then n, lo, hi = 2, 0x80, 0xbf
  elseif b == 0xe0 then n, lo, hi = 3, 0xa0, 0xbf
  elseif b == 0xed then n, lo, hi = 3, 0x80, 0x9f
  elseif b >= 0xe1 and b <= 0xef then n, lo, hi = 3, 0x80, 0xbf
  elseif b == 0xf0 then n, lo, hi = 4, 0x90, 0xbf
  elseif b == 0xf4 then n, lo, hi = 4, 0x80, 0x8f
  elseif b >= 0xf1 and b <= 0xf3 then n, lo, hi = 4, 0x80, 0xbf
  else return 0 end
  for k = 1, n - 1 do
    local c = s:byte(i + k)
    if not c then return -1 end
    if c < lo or c > hi then return 0 end
    lo, hi = 0x80, 0xbf -- only the second byte has a narrower range
  end
  return n
end

-- s cleaned up to the point where a sequence that is valid so far runs into the end, and that
-- tail (held back by streaming until the next bytes complete or break it).
function utf8.clean_prefix(s)
  if not s:find("[\128-\255]") then return s, "" end
  local out, i, n, from = {}, 1, #s, 1
  while i <= n do
    local len = sequence_length(s, i)
    if len == -1 then
      out[#out + 1] = s:sub(from, i - 1)
      return table.concat(out), s:sub(i)
    elseif len == 0 then
      out[#out + 1] = s:sub(from, i - 1)
      out[#out + 1] = utf8.REPLACEMENT
      i = i + 1
      from = i
    else
      i = i + len
    end
  end
  out[#out + 1] = s:sub(from)
  return table.concat(out), ""
end

-- s with every byte that is not part of a whole valid sequence replaced by U+FFFD.
function utf8.clean(s)
  local text, tail = utf8.clean_prefix(s)
  if tail == "" then return text end
  return text .. utf8.REPLACEMENT .. utf8.clean(tail:sub(2))
end

return utf8
