-- locus.progress: where long work says how far it is. Loading a model reports its stages, an
-- evaluation its samples:
--   progress.report("loading GroundingGPT-7B: vision tower", 3, 5)
-- By default the report goes nowhere (the command line draws its own progress); the notebook
-- kernel replaces progress.report with a bar that updates in place under the running cell.
local progress = {}

function progress.report(label, done, total) end -- luacheck: ignore (a front end replaces it)

return progress
