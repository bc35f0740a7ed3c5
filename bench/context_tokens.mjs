// Count cl100k_base tokens (the GPT-4 tokenizer, as in gpt-tokenizer) of named texts.
// stdin: {"name": "text", ...}   stdout: {"name": tokens, ...}
// Used by bench/context_tokens.py; gpt-tokenizer is installed into bench/node_modules by it.
import { countTokens } from "gpt-tokenizer/encoding/cl100k_base";

let input = "";
process.stdin.setEncoding("utf8");
for await (const chunk of process.stdin) input += chunk;
const texts = JSON.parse(input);
const counts = {};
for (const [name, text] of Object.entries(texts)) counts[name] = countTokens(text);
process.stdout.write(JSON.stringify(counts));
