const name = (readLine() || "").trim();
console.log(`Hello, ${name}!`);
