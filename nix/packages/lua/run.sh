#!/usr/bin/env bash
# require() looks in the program's folder first; ";;" keeps Lua's default search path after it.
LUA_PATH='/program/?.lua;/program/?/init.lua;;' exec lua /program/"$@"
