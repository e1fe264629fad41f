-- Pictures in, against Pillow and numpy (tests/fixtures/make_images.py): GroundingGPT's
-- expand2square + CLIPImageProcessor, bit for bit where Pillow's arithmetic is integer.
local locus = require "locus"
local helper = require "helper"
local I = locus.image
local fx = helper.fixtures .. "/images/"
local photos = helper.root .. "/../shared/assets/media/images/"

local function npy(name) return locus.npy.load(fx .. name .. ".npy") end

describe("image", function()
  it("resizes exactly as Pillow's bicubic: shrinking, stretching, squashing, identity", function()
    for i = 0, 5 do
      local want = npy(("resize%d_out"):format(i))
      local got = I.resize(npy(("resize%d_in"):format(i)), want:size(2), want:size(1))
      helper.assert_equal(got, want, "resize case " .. i)
    end
  end)

  it("pads to a centred square like expand2square, and preprocesses as CLIPImageProcessor", function()
    for i = 0, 2 do
      local src = npy(("pad%d_in"):format(i))
      helper.assert_equal(I.pad_square(src), npy(("pad%d_out"):format(i)))
      local px = I.preprocess(src)
      assert.are.same({ 3, 336, 336 }, px:shape())
      helper.assert_close(px, npy(("pad%d_pixel_values"):format(i)), 1e-6, 1e-6)
    end
  end)

  it("decodes JPEG as Pillow does (libjpeg-turbo), and PNG, grey, alpha and GIF's first frame", function()
    helper.assert_equal(I.read(fx .. "q90.jpg"), npy "q90_pil")
    helper.assert_equal(I.read(fx .. "grey.png"), npy "grey_png_pil")
    helper.assert_equal(I.read(fx .. "rgba.png"), npy "rgba_png_pil")
    helper.assert_equal(I.read(fx .. "frames.gif"), npy "frames_gif_pil")
  end)

  it("turns JPEGs by their EXIF orientation unless told not to", function()
    local turned = I.read(fx .. "rot6.jpg")
    assert.are.same({ 53, 37, 3 }, turned:shape())
    helper.assert_equal(turned, npy "rot6_turned")
    helper.assert_equal(I.read(fx .. "rot6.jpg", { exif = false }), npy "rot6_raw")
  end)

  it("matches GroundingGPT's pixel_values on the shared photos", function()
    local f = io.open(photos .. "dog.jpeg")
    if not f then return pending("../shared/assets is absent") end
    f:close()
    for _, name in ipairs { "009.jpg", "3dog.jpg", "bird_image.jpg", "car_image.jpg", "dog.jpeg", "dog_image.jpg", "soccer.jpg" } do
      local px = I.preprocess(photos .. name)
      local ref = npy("photo_" .. name:gsub("%.%w+$", "")):float() -- stored as f16: 1e-3 of rounding
      local d = (px - ref):abs()
      assert.is_true(d:max():item() <= 1e-3, name .. " max " .. d:max():item())
      assert.is_true(d:mean():item() <= 3e-4, name .. " mean " .. d:mean():item())
    end
  end)

  it("refuses broken files and decompression bombs with the file and the reason", function()
    local cases = {
      ["truncated.jpg"] = "truncated JPEG", ["corrupt.jpg"] = "corrupt JPEG", ["empty.jpg"] = "empty file",
      ["not_an_image.png"] = "not an image locus can decode", ["bomb.png"] = "100000 x 100000 pixels is beyond locus's limit",
      ["missing.png"] = "cannot open",
    }
    for file, msg in pairs(cases) do
      local ok, err = pcall(I.read, fx .. file)
      assert.is_false(ok, file)
      assert.truthy(err:find(fx .. file, 1, true), err)
      assert.truthy(err:find(msg, 1, true), err)
    end
  end)
end)
