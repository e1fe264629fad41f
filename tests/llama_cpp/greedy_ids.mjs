// Greedy token ids from node-llama-cpp (llama.cpp) for given prompt ids, printed as one line
// "ids: A B C ...": N tokens, or fewer when the model ends its text.
//   node greedy_ids.mjs MODEL.gguf N ID,ID,...
import {getLlama} from "node-llama-cpp";

const [modelPath, count, prompt] = process.argv.slice(2);
const llama = await getLlama({gpu: false, build: "never", logLevel: "error"});
const model = await llama.loadModel({modelPath});
const context = await model.createContext({contextSize: 128});
const ids = [];
for await (const token of context.getSequence().evaluate(prompt.split(",").map(Number), {temperature: 0})) {
    ids.push(token);
    if (ids.length >= Number(count) || token === model.tokens.eos) break;
}
console.log("ids: " + ids.join(" "));
await llama.dispose();
