-- The tokenizer against sentencepiece (fixtures by tests/fixtures/make_tokenizer.py), llama.cpp's
-- published vectors, and transformers' slow LlamaTokenizer with GroundingGPT's added tokens.
local locus = require "locus"
local helper = require "helper"
local cjson = require "cjson"
local fx = helper.fixtures .. "/tokenizer/"
local shared = helper.root .. "/../shared/assets/"
local ADDED = { "<im_patch>", "<im_start>", "<im_end>", "<vi_patch>", "<vi_start>", "<vi_end>", "<so_patch>", "<so_start>",
  "<so_end>" }

local function have(path)
  local f = io.open(path)
  if f then f:close() end
  return f ~= nil
end

local function cases(file) return cjson.decode(io.open(fx .. file):read("*a")) end

local function check_cases(tok, list, opts)
  for i, c in ipairs(list) do
    local what = ("case %d %q"):format(i, c.text:sub(1, 40))
    assert.are.same(c.ids, tok:encode(c.text, opts), what)
    if c.decoded then assert.are.equal(c.decoded, tok:decode(c.ids), what) end
  end
end

describe("tokenizer", function()
  it("matches sentencepiece on a BPE model trained with byte fallback", function()
    check_cases(locus.tokenizer.load(fx .. "tiny.model"), cases "tiny_cases.json", { bos = false })
  end)

  it("matches sentencepiece with LLaMA's tokenizer: every script, emoji, whitespace runs, 10k characters", function()
    if not have(shared .. "tokenizer/tokenizer.model") then return pending("../shared/assets is absent") end
    check_cases(locus.tokenizer.load(shared .. "tokenizer/tokenizer.model"), cases "llama_cases.json", { bos = false })
  end)

  it("reproduces llama.cpp's test vectors from tokenizer.model and from GGUF", function()
    local dir = shared .. "tokenizer/"
    if not have(dir .. "ggml-vocab-llama-spm.gguf.inp") then return pending("../shared/assets is absent") end
    local inp = io.open(dir .. "ggml-vocab-llama-spm.gguf.inp"):read("*a")
    local want = {}
    for line in io.lines(dir .. "ggml-vocab-llama-spm.gguf.out") do want[#want + 1] = line end
    local texts, pos = {}, 1
    while true do
      local a, b = inp:find("\n__ggml_vocab_test__\n", pos, true)
      if not a then break end
      texts[#texts + 1] = inp:sub(pos, a - 1)
      pos = b + 1
    end
    assert.are.equal(#want, #texts)
    for _, src in ipairs { dir .. "tokenizer.model", dir .. "ggml-vocab-llama-spm.gguf" } do
      local tok = locus.tokenizer.load(src)
      assert.are.equal(32000, tok:vocab_size())
      for i, text in ipairs(texts) do
        local ids = tok:encode(text, { bos = false })
        assert.are.equal(want[i], #ids > 0 and (" " .. table.concat(ids, " ")) or "", src .. ": " .. ("%q"):format(text))
      end
    end
  end)

  it("splits GroundingGPT's added tokens out whole and strips the whitespace around them, as 4.31's slow tokenizer", function()
    if not have(shared .. "tokenizer/tokenizer.model") then return pending("../shared/assets is absent") end
    local tok = locus.tokenizer.load(shared .. "tokenizer/tokenizer.model", { added_token_spaces = "strip" })
    for i, t in ipairs(ADDED) do tok:add_token(t, 31999 + i) end
    check_cases(tok, cases "added_cases.json")
    assert.are.same({ 1, 32002, 6804 }, tok:encode("<im_end>\nWhere")) -- <im_end>, ▁Where
    assert.are.equal(32009, tok:vocab_size())
    assert.are.equal("<im_patch>", tok:piece(32000))
    assert.are.equal(32008, tok:id("<so_end>"))
    assert.are.equal("a<im_patch> b", tok:decode(tok:encode("a <im_patch> b"))) -- pieces joined as they are
  end)

  it("loads a model directory with added_tokens.json and special_tokens_map.json", function()
    if not have(shared .. "tokenizer/tokenizer.model") then return pending("../shared/assets is absent") end
    local tmp = helper.tmpdir()
    os.execute(("cp %stokenizer/tokenizer.model %s/"):format(shared, tmp))
    local added = {}
    for i, t in ipairs(ADDED) do added[t] = 31999 + i end
    local function write(name, text)
      local f = io.open(tmp .. "/" .. name, "w")
      f:write(text)
      f:close()
    end
    write("added_tokens.json", cjson.encode(added))
    write("special_tokens_map.json", '{"bos_token": {"content": "<s>", "lstrip": false, "rstrip": false}, "eos_token": "</s>"}')
    local tok = locus.tokenizer.load(tmp, { added_token_spaces = "strip" })
    assert.are.equal(32009, tok:vocab_size())
    assert.are.same({ 1, 32001, 32000, 32002 }, tok:encode("<im_start><im_patch><im_end>"))
    -- "<s>" as an AddedToken without lstrip/rstrip keeps the spaces, and so does "</s>" as a plain
    -- string: LlamaTokenizer makes it an AddedToken without stripping
    assert.are.same({ 1, 263, 29871, 1, 29871, 289 }, tok:encode("a <s> b"))
    assert.are.same({ 1, 263, 29871, 2, 29871, 289 }, tok:encode("a </s> b"))
    local rc, out = helper.sh(helper.locus_cmd .. " tokenize --added-token-spaces strip --model " .. tmp .. " 'Where is <im_patch> it?'")
    assert.are.equal(0, rc, out)
    assert.are.equal("1 6804 338 32000 372 29973\n", out)
    rc, out = helper.sh(helper.locus_cmd .. " tokenize --model " .. tmp .. " 'Where is <im_patch> it?'") -- "keep", the default
    assert.are.equal(0, rc, out)
    assert.are.equal("1 6804 338 29871 32000 29871 372 29973\n", out)
    rc, out = helper.sh(helper.locus_cmd .. " tokenize --added-token-spaces both --model " .. tmp .. " 'x'")
    assert.are_not.equal(0, rc)
    assert.truthy(out:find('added_token_spaces must be "keep" or "strip"', 1, true), out)
    os.execute("rm -rf " .. tmp)
  end)

  it("reads 4.31- and 4.34-style directories as each transformers version does, in both modes", function()
    local all = cases "layout_cases.json"
    for _, layout in ipairs { "hf431", "hf434" } do
      for _, spaces in ipairs { "strip", "keep" } do
        local tok = locus.tokenizer.load(fx .. layout, { added_token_spaces = spaces })
        assert.are.equal(409, tok:vocab_size())
        check_cases(tok, all["tiny/" .. layout .. "/" .. spaces])
      end
    end
    if not have(shared .. "tokenizer/tokenizer.model") then return pending("../shared/assets is absent: tiny.model only") end
    local files = cases "llama_layouts.json"
    for layout, contents in pairs(files) do
      local tmp = helper.tmpdir()
      os.execute(("cp %stokenizer/tokenizer.model %s/"):format(shared, tmp))
      for name, content in pairs(contents) do
        local f = io.open(tmp .. "/" .. name, "w")
        f:write(cjson.encode(content))
        f:close()
      end
      for _, spaces in ipairs { "strip", "keep" } do
        check_cases(locus.tokenizer.load(tmp, { added_token_spaces = spaces }), all["llama/" .. layout .. "/" .. spaces])
      end
      os.execute("rm -rf " .. tmp)
    end
  end)

  it("gives the same prompt ids in every fresh process", function()
    local prompt = cases("layout_cases.json")["tiny/hf434/keep"][2]
    for _, spaces in ipairs { "keep", "strip" } do
      local want = table.concat(cases("layout_cases.json")["tiny/hf434/" .. spaces][2].ids, " ") .. "\n"
      for run = 1, 6 do
        local rc, out = helper.sh(("%s tokenize --added-token-spaces %s --model %shf434 %s"):format(helper.locus_cmd, spaces,
          fx, helper.quote(prompt.text)))
        assert.are.equal(0, rc, out)
        assert.are.equal(want, out, spaces .. ", run " .. run)
      end
    end
  end)

  it("decodes bytes that form no UTF-8 as U+FFFD, one per byte, in decode and in streams", function()
    local tok = locus.tokenizer.load(fx .. "tiny.model")
    local byte = function(b) return tok:id(("<0x%02X>"):format(b)) end
    local ok = tok:encode("ok", { bos = false })
    local ids = { ok[1], byte(0xe6), byte(0x97), byte(0xa5), byte(0xe1), byte(0xff), byte(0xe1), byte(0x80) }
    -- 日 is whole; 0xe1 then 0xff is broken; the answer ends inside 0xe1 0x80
    assert.are.equal(tok:decode({ ok[1] }) .. "日\239\191\189\239\191\189\239\191\189\239\191\189", tok:decode(ids))
    assert.are.equal(tok:decode({ ok[1] }) .. "日\xe1\xff\xe1\x80", tok:decode(ids, { raw = true }))
    local s, out = tok:stream(), {}
    for _, id in ipairs(ids) do out[#out + 1] = s:push(id) end
    assert.are.equal("", out[2]) -- 0xe6 waits for the rest of its character
    assert.are.equal(tok:decode(ids), table.concat(out) .. s:flush())
  end)

  it("decodes as sentencepiece, and streams whole UTF-8 characters", function()
    local tok = locus.tokenizer.load(fx .. "tiny.model")
    local text = "naïve 🦙 日本 ok"
    local ids = tok:encode(text, { bos = false })
    assert.are.equal(text, tok:decode(ids))
    assert.are.equal(text, tok:decode(tok:encode(text))) -- BOS decodes to nothing
    local s, pieces = tok:stream(), {}
    for _, id in ipairs(ids) do
      local piece = s:push(id)
      assert.truthy(piece == "" or cjson.decode(cjson.encode(piece)) == piece)
      -- every chunk streamed is valid UTF-8 on its own
      assert.is_nil(piece:find("[\xc0-\xff][\x80-\xbf]*$") and not piece:find("[\xf0-\xf7][\x80-\xbf][\x80-\xbf][\x80-\xbf]$")
        and not piece:find("[\xe0-\xef][\x80-\xbf][\x80-\xbf]$") and not piece:find("[\xc0-\xdf][\x80-\xbf]$") or nil)
      pieces[#pieces + 1] = piece
    end
    assert.are.equal(text, table.concat(pieces) .. s:flush())
  end)

  it("reads a GGUF vocabulary and refuses broken models", function()
    if have(shared .. "models/stories260K.gguf") then
      local tok = locus.tokenizer.load(shared .. "models/stories260K.gguf")
      assert.are.equal(512, tok:vocab_size())
      assert.are.equal(1, tok:bos())
      assert.are.equal(2, tok:eos())
      assert.are.equal("Once upon a time", tok:decode(tok:encode("Once upon a time")))
    end
    local ok, err = pcall(locus.tokenizer.load, helper.fixtures .. "/a.npy")
    assert.is_false(ok)
    assert.truthy(err:find("a.npy: not a SentencePiece model", 1, true), err)
    ok, err = pcall(locus.tokenizer.load, helper.fixtures .. "/ckpt/model.gguf")
    assert.is_false(ok)
    assert.truthy(err:find("no tokenizer in the metadata", 1, true), err)
    local tok = locus.tokenizer.load(fx .. "tiny.model")
    assert.has_error(function() tok:add_token("", 500) end)
    assert.has_error(function() tok:add_token("<x>", 5) end) -- id 5 is a piece with other text
    assert.has_error(function() tok:piece(100000) end)
    assert.are.same({}, tok:encode("", { bos = false }))
  end)
end)
