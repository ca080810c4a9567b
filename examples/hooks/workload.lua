-- workload.lua - a non-trivial, deterministic Lua workload for the allocator
-- hooks: tables, strings, closures, coroutines, sorting, gsub and string.format.
-- Returns a report string; the C driver compares it across allocators.
local N = tonumber(... or 20000)
local out = {}

-- sieve + string building
local sieve, primes = {}, {}
for i = 2, N do
  if not sieve[i] then
    primes[#primes + 1] = i
    for j = i * i, N, i do sieve[j] = true end
  end
end
out[#out + 1] = string.format("primes<=%d: %d, last %d", N, #primes, primes[#primes])

-- many small tables (GC churn) and a sort with a closure comparator
local recs = {}
local seed = 12345
local function rnd() seed = (seed * 1103515245 + 12345) % 2147483648; return seed end
for i = 1, N do
  recs[i] = { id = i, key = rnd() % 100000, name = "rec" .. (rnd() % 977) }
end
table.sort(recs, function(a, b)
  if a.key ~= b.key then return a.key < b.key end
  return a.id < b.id
end)
local h = 0
for i = 1, #recs, 97 do h = (h * 31 + recs[i].key + #recs[i].name) % 1000000007 end
out[#out + 1] = "sorted hash " .. h

-- string concatenation, gsub, word counts
local parts = {}
for i = 1, N // 4 do parts[#parts + 1] = "w" .. (i % 113) .. " " end
local text = table.concat(parts)
local counts, words = {}, 0
for w in text:gmatch("%S+") do counts[w] = (counts[w] or 0) + 1; words = words + 1 end
local distinct = 0
for _ in pairs(counts) do distinct = distinct + 1 end
local replaced, nrep = text:gsub("w(%d)", "W%1")
out[#out + 1] = string.format("words %d distinct %d replaced %d len %d", words, distinct, nrep, #replaced)

-- coroutines and closures
local function gen(n)
  return coroutine.wrap(function()
    local a, b = 0, 1
    for _ = 1, n do coroutine.yield(a); a, b = b, (a + b) % 1000000007 end
  end)
end
local s = 0
for v in gen(N // 10) do s = (s + v) % 1000000007 end
out[#out + 1] = "fib sum " .. s

-- a growing string buffer (realloc-heavy) and a table of closures
local buf = ""
for i = 1, 2000 do buf = buf .. string.char(65 + i % 26) end
local fns = {}
for i = 1, 1000 do fns[i] = function(x) return x * i end end
local acc = 0
for i = 1, 1000 do acc = (acc + fns[i](i)) % 1000000007 end
out[#out + 1] = string.format("buf %d %s acc %d", #buf, buf:sub(-8), acc)

collectgarbage()
return table.concat(out, "\n")
