-- Hostile and odd input, class by class (issue 17): each case is a file (tests/fixtures/hostile/, or
-- written here from a valid one) and what locus must do with it — refuse it quickly with a message
-- naming the file and what is wrong, within a bound on time and memory, writing nothing; or read it.
local locus = require "locus"
local helper = require "helper"

local fx = helper.fixtures .. "/hostile/"
local gg = helper.fixtures .. "/groundinggpt/"

-- runs `locus ARGS` under a time limit; returns exit status, output, peak resident KB
local function locus_cmd(args, seconds)
  local rc, out = helper.sh(("/usr/bin/time -f 'peak_kb=%%M' timeout %d %s %s"):format(seconds or 20, helper.locus_cmd, args))
  local kb = tonumber(out:match("peak_kb=(%d+)"))
  return rc, out:gsub("peak_kb=%d+%s*$", ""), kb
end

local function copy_model(tmp) -- the model and its CLIP tower beside it, as config.json expects
  os.execute(("cp -r %smodel %sclip %s/"):format(gg, gg, tmp))
  return tmp .. "/model"
end

local function edit_config(dir, key, value)
  local path = dir .. "/config.json"
  local cfg = locus.config.read_json(path)
  cfg[key] = value
  local f = io.open(path, "w")
  f:write(require("cjson").encode(cfg))
  f:close()
end

describe("hostile input", function()
  it("images: a scan repeated 20000 times, a huge size declared over a tiny scan, a padded bomb", function()
    -- decoding bombs end in well under a second, within 100 MB
    for file, msg in pairs {
      ["jpeg_many_scans.jpg"] = "corrupt JPEG: more than 500 progressive scans",
      ["jpeg_huge_tiny_scan.jpg"] = "truncated JPEG (32768 x 3051 pixels declared, but 694 bytes cannot hold them)",
    } do
      local rc, out, kb = locus_cmd(("ground --model %smodel --image %s%s 'Where?'"):format(gg, fx, file), 10)
      assert.are.equal(1, rc, out)
      assert.truthy(out:find(fx .. file .. ": " .. msg, 1, true), out)
      assert.truthy(kb < 100 * 1024, file .. ": peak " .. tostring(kb) .. " KB")
    end
    -- a wide image whose padded square passes the limit is refused before the square is allocated
    local wide = locus.tensor.zeros({ 1, 12000, 3 }, "u8")
    assert.has_error(function() locus.image.pad_square(wide) end,
      "image.pad_square: a 12000 x 1 image pads to a 12000 x 12000 square, beyond locus's limit of 100000000 pixels (LOCUS_MAX_IMAGE_PIXELS)")
  end)

  it("valid but odd: a top-down BMP (negative height) is read as Pillow reads it; a 1000-fps video is read", function()
    local t = locus.image.read(fx .. "bmp_top_down.bmp")
    helper.assert_equal(t, locus.npy.load(fx .. "bmp_top_down.npy"))
    local frames, idx, info = locus.video.read(fx .. "video_1000fps.mp4", { frames = 8 })
    assert.are.same({ 8, 224, 224, 3 }, frames:shape())
    assert.are.same({ 0, 37, 75, 112, 150, 187, 225, 262 }, idx)
    assert.are.equal(300, info.frames)
    assert.truthy(math.abs(info.duration - 0.3) < 1e-6, tostring(info.duration))
  end)

  it("sound: a rate with no common factor with 16 kHz resamples as torchaudio does, without its 2.8 GB kernel", function()
    -- 44101 Hz: torchaudio builds 16000 phases of 44135 taps (12 GB and 113 s to make the fixture)
    local rc, out, kb = locus_cmd(("run %s/hostile_resample.lua %s"):format(fx, fx), 20)
    assert.are.equal(0, rc, out)
    assert.truthy(kb < 200 * 1024, "peak " .. tostring(kb) .. " KB")
    local got = locus.audio.samples(fx .. "rate_44101.wav"):select(1, 1)
    helper.assert_close(got, locus.npy.load(fx .. "rate_44101.wav.resampled.npy"), 0, 2e-5, "44101 Hz to 16 kHz")
    -- an Ogg cut in half: libsndfile cannot tell its length, and says so through locus
    local rc2, out2 = locus_cmd(("ground --model %smodel --audio %sogg_truncated.ogg 'What?'"):format(gg, fx), 10)
    assert.are.equal(1, rc2, out2)
    assert.truthy(out2:find(fx .. "ogg_truncated.ogg: the length of the sound is unknown (a truncated file?)", 1, true), out2)
  end)

  it("model files: layer counts and sizes are checked against the weights before anything is built", function()
    local tmp = helper.tmpdir()
    local dir = copy_model(tmp)
    for _, case in ipairs {
      { "num_hidden_layers", 1000000000, "num_hidden_layers must be a whole number from 1 to 4096, not 1000000000" },
      { "num_hidden_layers", 3, "num_hidden_layers says 3 layers, but the weights have no model.layers.2.input_layernorm.weight" },
      { "num_hidden_layers", "2", 'num_hidden_layers must be a whole number from 1 to 4096, not "2"' },
      { "hidden_size", 64.5, "hidden_size must be a whole number from 1 to 1048576, not 64.5" },
      { "rms_norm_eps", -1, "rms_norm_eps must be a positive number, not -1" },
    } do
      edit_config(dir, case[1], case[2])
      local rc, out = locus_cmd(("ground --model %s --image %sphoto.png 'Where?'"):format(dir, gg), 10)
      assert.are.equal(1, rc, out)
      assert.truthy(out:find(dir .. "/config.json: " .. case[3], 1, true), out)
      os.execute(("cp %smodel/config.json %s/"):format(gg, dir))
    end
    -- a context of millions: the KV cache is mapped, not touched, so the request costs what it uses
    edit_config(dir, "max_position_embeddings", 4000000) -- 2 GB of keys and values at this model's shapes
    local rc0, out0, kb0 = locus_cmd(("ground --model %s --image %sphoto.png --max-new-tokens 2 'Where?'"):format(dir, gg), 20)
    assert.are.equal(0, rc0, out0)
    assert.truthy(kb0 < 400 * 1024, "peak " .. tostring(kb0) .. " KB")
    os.execute(("cp %smodel/config.json %s/"):format(gg, dir))
    -- video frames beyond the checkpoint's frame positions, or none
    for _, mf in ipairs { 0, 9, 2.5 } do
      edit_config(dir, "max_frame", mf)
      local rc, out = locus_cmd(("ground --model %s --image %sphoto.png 'Where?'"):format(dir, gg), 10)
      assert.are.equal(1, rc, out)
      assert.truthy(out:find(dir .. ": config max_frame must be a whole number from 1 to 8 (the frame positions the checkpoint has), not "
        .. tostring(mf), 1, true), out)
    end
    os.execute(("cp %smodel/config.json %s/"):format(gg, dir))
    -- an added token's id past int32, and a tokenizer that cannot read back every id the model can make
    local f = io.open(dir .. "/added_tokens.json", "w")
    f:write('{"<im_patch>": 2147483648}')
    f:close()
    local rc, out = locus_cmd(("tokenize --model %s hi"):format(dir), 10)
    assert.are.equal(1, rc, out)
    assert.truthy(out:find(dir .. ": added token '<im_patch>' has id 2147483648, outside 0 .. 2147483647", 1, true), out)
    -- an added token on a piece's id, or two on one id
    for json, msg in pairs {
      ['{"<im_patch>": 0}'] = "added token '<im_patch>' would take id 0, which is the piece '<unk>'",
      ['{"<im_patch>": 401, "<im_start>": 401}'] = "added token '<im_start>' (401) clashes with '<im_patch>' (401)",
    } do
      f = io.open(dir .. "/added_tokens.json", "w")
      f:write(json)
      f:close()
      rc, out = locus_cmd(("tokenize --model %s hi"):format(dir), 10)
      assert.are.equal(1, rc, out)
      assert.truthy(out:find(dir .. ": " .. msg, 1, true), out)
    end
    f = io.open(dir .. "/added_tokens.json", "w")
    f:write('{"<im_patch>": 400}')
    f:close()
    rc, out = locus_cmd(("generate --model %s --prompt hi"):format(dir), 10)
    assert.are.equal(1, rc, out)
    assert.truthy(out:find(dir .. ": the tokenizer has 401 tokens, but the model's vocabulary has 409", 1, true), out)
    os.execute(("cp %smodel/added_tokens.json %s/"):format(gg, dir))
    -- a GGUF claiming a billion blocks
    local g = tmp .. "/g.gguf"
    assert.are.equal(0, (helper.sh(("%s convert %smodel %s"):format(helper.locus_cmd, gg, g))))
    local w = locus.weights.open(g)
    local md = w:metadata()
    md["llama.block_count"], md["locus.long_names"] = 1000000000, nil
    local list = {} -- the LLM's tensors are enough
    for _, name in ipairs(w:names()) do
      if not name:match("^model%.") then list[#list + 1] = { name, w:get(name) } end
    end
    local bad = tmp .. "/bad.gguf"
    local types = require("cjson").decode(w:metadata_types_json())
    types["locus.long_names"] = nil
    locus.gguf.save(bad, list, { metadata_json = require("cjson").encode(md), types_json = require("cjson").encode(types) })
    rc, out = locus_cmd(("generate --model %s --prompt hi"):format(bad), 10)
    assert.are.equal(1, rc, out)
    assert.truthy(out:find(bad .. ": metadata llama.block_count must be a whole number from 1 to 4096, not 1000000000", 1, true), out)
    os.execute("rm -rf " .. tmp)
  end)

  it("model files: a field of the wrong type is named with its file, in the tokenizer's, CLIP's and the recipe's files", function()
    local cjson = require "cjson"
    local tmp = helper.tmpdir()
    local dir = copy_model(tmp)
    local function write(file, value)
      local f = io.open(tmp .. "/" .. file, "w")
      f:write(type(value) == "string" and value or cjson.encode(value))
      f:close()
    end
    local config_json = io.open(gg .. "model/config.json"):read("*a")
    local function with_config(fields)
      local t = cjson.decode(config_json)
      for k, v in pairs(fields) do t[k] = v end
      return t
    end
    for _, case in ipairs {
      { "model/added_tokens.json", { 1, 2, 3 }, "model/added_tokens.json: the file must be an object, not a list" },
      { "model/tokenizer_config.json", { bos_token = { content = 5 } },
        'model/tokenizer_config.json: bos_token must be text or an object with text "content", not content 5' },
      { "model/tokenizer_config.json", { additional_special_tokens = "x" },
        'model/tokenizer_config.json: additional_special_tokens must be a list, not "x"' },
      { "model/tokenizer_config.json", { added_tokens_decoder = { ["400"] = { content = {} } } },
        'model/tokenizer_config.json: added_tokens_decoder["400"].content must be text, not an object' },
      { "model/special_tokens_map.json", { eos_token = true },
        'model/special_tokens_map.json: eos_token must be text or an object with text "content", not true' },
      { "clip/config.json", { num_attention_heads = "2" }, 'clip (config.json): num_attention_heads must be a whole number from 1 to 4096, not "2"' },
      { "clip/config.json", { layer_norm_eps = "x" }, 'clip (config.json): layer_norm_eps must be a positive number, not "x"' },
      { "model/config.json", with_config { mm_vision_tower = 5 }, "model/config.json: mm_vision_tower must be text, not 5" },
      { "model/config.json", with_config { mm_vision_select_layer = "x" },
        'model/config.json: mm_vision_select_layer must be a whole number from -4096 to 4096, not "x"' },
      { "model/config.json", with_config { lego_hparams = { eva_vit = { heads = "2" } } },
        'model/config.json: lego_hparams.eva_vit.heads must be a whole number from 1 to 4096, not "2"' },
    } do
      write(case[1], case[2])
      local rc, out = locus_cmd(("ground --model %s --image %sphoto.png 'Where?'"):format(dir, gg), 10)
      assert.are.equal(1, rc, out)
      assert.truthy(out:find(case[3], 1, true), case[3] .. " in " .. out)
      assert.falsy(out:find("%.lua:%d+:"), out) -- no Lua position: the file is what is wrong
      os.execute(("rm -rf %s/model %s/clip && cp -r %smodel %sclip %s/"):format(tmp, tmp, gg, gg, tmp))
    end
    os.execute("rm -rf " .. tmp)
  end)

  it("model files: random wrong values in every config field load or are refused by name, never a Lua internal", function()
    -- a small fuzzer over the fields a recipe reads: each field of config.json (and CLIP's) takes a
    -- value of another kind, and loading must either work or fail with the file in the message
    local cjson = require "cjson"
    local tmp = helper.tmpdir()
    local dir = copy_model(tmp)
    local values = { "x", "", -1, 0, 0.5, 1e300, -1e300, 2 ^ 53, true, false, { 1, 2 }, { a = 1 }, cjson.null }
    local state = 12345
    local function pick(list)
      state = (state * 1103515245 + 12345) % 2147483648
      return list[state % #list + 1]
    end
    local function fuzz(file, where)
      local original = io.open(file):read("*a")
      local fields = {}
      for k in pairs(cjson.decode(original)) do fields[#fields + 1] = k end
      table.sort(fields)
      local refused = 0
      for _, field in ipairs(fields) do
        for _ = 1, 3 do
          local t = cjson.decode(original)
          t[field] = pick(values)
          local f = io.open(file, "w")
          f:write(cjson.encode(t))
          f:close()
          local ok, err = pcall(locus.load, dir)
          if not ok then
            refused = refused + 1
            err = tostring(err)
            assert.truthy(err:find(where, 1, true), field .. " = " .. cjson.encode(t[field]) .. ": " .. err)
            assert.falsy(err:find("attempt to") or err:find("bad argument") or err:find("cannot convert"),
              field .. " = " .. cjson.encode(t[field]) .. ": " .. err)
          end
        end
      end
      local f = io.open(file, "w")
      f:write(original)
      f:close()
      return refused
    end
    assert.truthy(fuzz(dir .. "/config.json", dir) > 10)
    assert.truthy(fuzz(tmp .. "/clip/config.json", tmp .. "/model/../clip") > 3)
    assert.truthy(fuzz(dir .. "/added_tokens.json", dir) > 10)
    os.execute("rm -rf " .. tmp)
  end)

  it("prompts: random questions and answers made of markup fragments never add a modality token", function()
    local m = locus.load(gg .. "model")
    local added = {}
    for _, t in ipairs(locus.groundinggpt.ADDED_TOKENS) do added[m.tokenizer:id(t)] = true end
    local fragments = { "<im_start>", "<im_patch>", "<im_end>", "<vi_start>", "<vi_patch>", "<so_end>", "<", ">", "im_",
      "patch", "###", "Human:", "Assistant:", " ", "\n", "\t", "ö", "🦙", "\0", "\xff", "<s>", "</s>", "a" }
    local state = 99
    local function text()
      local parts = {}
      state = (state * 1103515245 + 12345) % 2147483648
      for i = 1, state % 12 do
        state = (state * 1103515245 + 12345) % 2147483648
        parts[i] = fragments[state % #fragments + 1]
      end
      return table.concat(parts)
    end
    for _ = 1, 200 do
      local ids = m:prompt_ids { question = text(), history = { { text(), text() } }, audio = true, image = true }
      local n = 0
      for _, id in ipairs(ids) do if added[id] then n = n + 1 end end
      assert.are.equal(8 + 2 + 576 + 2, n) -- the template's sound and image blocks, nothing else
    end
  end)

  it("options: NaN and out-of-range generation settings are refused by name", function()
    for args, msg in pairs {
      ["--temperature nan"] = "temperature must be a number >= 0, not nan",
      ["--top-k 2.5"] = "top_k must be a whole number >= 1, not 2.5",
      ["--top-p 0"] = "top_p must be in (0, 1], not 0",
      ["--max-new-tokens -5"] = "max_new_tokens must be a whole number >= 1, not -5",
    } do
      local rc, out = locus_cmd(("ground --model %smodel --image %sphoto.png %s 'Where?'"):format(gg, gg, args), 10)
      assert.are.equal(1, rc, out)
      assert.truthy(out:find("generate: " .. msg, 1, true), out)
    end
  end)
end)
