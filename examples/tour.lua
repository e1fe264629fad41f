-- A tour of locus's tensors and modules: the README's first command runs it.
--   bin/locus run examples/tour.lua
local T, nn = locus.tensor, locus.nn
print(("locus %s on %s, %d threads, %s kernels"):format(locus.version, locus.cpu_features(), locus.num_threads(),
  locus.kernel_path()))

-- tensors: creation, views without copies, printing
local x = T.randn { 4, 6, seed = 1 }
print(x)
print("columns 2..3 of the transpose, a view:", x:t():narrow(1, 2, 2):shape()[1], "rows")

-- weights kept in bf16 and multiplied with f32 activations, without converting the matrix
local w = T.randn { 8, 6, seed = 2, std = 0.4 }
local y32, y16 = x:linear(w), x:linear(w:to("bf16"))
print(("linear: f32 weights vs bf16 weights, max |diff| %.2e"):format((y32 - y16):abs():max():item()))

-- a Torch7-style module stack with PyTorch state_dict names
local mlp = nn.Sequential(nn.Linear(6, 16, { seed = 3 }), nn.GELU(), nn.Linear(16, 4, { seed = 4 }))
print(mlp)
local names = {}
for k in pairs(mlp:parameters()) do names[#names + 1] = k end
table.sort(names)
print("parameters: " .. table.concat(names, ", "))
print(mlp:forward(x):softmax())

-- .npy in and out, for comparing any stage with numpy or PyTorch
local path = os.tmpname() .. ".npy"
locus.npy.save(path, x)
print("saved and reloaded equal:", (locus.npy.load(path) - x):max():item() == 0)
os.remove(path)
