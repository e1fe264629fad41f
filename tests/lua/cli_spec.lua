local helper = require "helper"
local locus_cmd, root = helper.locus_cmd, helper.root

describe("bin/locus", function()
  it("runs a script that multiplies two .npy files, and numpy agrees", function()
    local tmp = helper.tmpdir()
    local fx = helper.fixtures
    local rc, out = helper.sh(("%s run %s/examples/matmul_npy.lua %s/a.npy %s/b.npy %s/ab.npy"):format(
      locus_cmd, root, fx, fx, tmp))
    assert.are.equal(0, rc, out)
    local locus = require "locus"
    helper.assert_f32(locus.npy.load(tmp .. "/ab.npy"), locus.npy.load(fx .. "/ab_numpy.npy"), { k = 48, what = "a @ b" })
    os.execute("rm -rf " .. tmp)
  end)

  it("passes arguments as arg[0..n] and ... and loads locus", function()
    local tmp = helper.tmpdir()
    local f = io.open(tmp .. "/s.lua", "w")
    f:write('local a, b = ...\nprint(arg[0]:match("s%.lua$"), arg[1], arg[2], a, b, type(locus.tensor))\n')
    f:close()
    local rc, out = helper.sh(locus_cmd .. " run " .. tmp .. "/s.lua x 'y z'")
    assert.are.equal(0, rc, out)
    assert.are.equal("s.lua\tx\ty z\tx\ty z\ttable\n", out)
    os.execute("rm -rf " .. tmp)
  end)

  it("reports script errors and unknown commands with exit status 1", function()
    local rc, out = helper.sh(locus_cmd .. " run /nonexistent.lua")
    assert.are.equal(1, rc)
    assert.truthy(out:match("^locus: cannot open /nonexistent%.lua"), out)
    rc, out = helper.sh(locus_cmd .. " frobnicate")
    assert.are.equal(1, rc)
    assert.truthy(out:match("unknown command 'frobnicate'"), out)
    rc, out = helper.sh("echo 'error(\"boom\")' > /tmp/locus_boom.lua; " .. locus_cmd .. " run /tmp/locus_boom.lua")
    assert.are.equal(1, rc)
    assert.truthy(out:match("boom"), out)
  end)

  it("works through a symlink, from another directory", function()
    local tmp = helper.tmpdir()
    local rc, out = helper.sh(("ln -s %s %s/locus && cd / && %s/locus info"):format(locus_cmd, tmp, tmp))
    assert.are.equal(0, rc, out)
    assert.truthy(out:match("^locus %d+%.%d+"), out)
    os.execute("rm -rf " .. tmp)
  end)

  it("console evaluates expressions, statements and multi-line input from a pipe", function()
    local input = "x = locus.tensor.from{1, 2, 3}\\nx:sum():item()\\nfunction f(a)\\n  return a * 10\\nend\\nf(4)\\n" ..
      "x\\n{1, 'two', k = 3}\\nerror('oops')\\n1 + 1\\n"
    local rc, out = helper.sh("printf \"" .. input .. "\" | " .. locus_cmd)
    assert.are.equal(0, rc, out)
    assert.truthy(out:find("^6\n40\n"), out)
    assert.truthy(out:find("tensor f32 [3]\n[1.0000, 2.0000, 3.0000]", 1, true), out)
    assert.truthy(out:find('{1, "two", k = 3}', 1, true), out)
    assert.truthy(out:find("oops", 1, true), out)
    assert.truthy(out:find("\n2\n", 1, true), out) -- still running after the error
  end)
end)
