/* The JavaScript runtime of environment javascript-wasm: QuickJS, compiled to a WASI command.
 *
 * It runs /program/main.js (the compile step puts the main file there) as a global script, with
 * these globals besides the language's own:
 *
 *   console.log(...values), console.info, console.debug  print to stdout, space-separated, "\n"
 *   console.error(...values), console.warn               the same on stderr
 *   print(...values)                                     console.log
 *   readStdin()      everything left on stdin, as a string ("" at the end)
 *   readLine()       the next line of stdin without its "\n", or null at the end
 *   readFile(path)   a file (of the working directory, the run's files) as a string, or null
 *   scriptArgs       the run's args, an array of strings
 *   exit(code)       ends the program with that status
 *   require("./name")  another file of the build, run once as a CommonJS module (module.exports)
 *   process          argv (["qjs", "main.js", ...args]), env, exit, stdout.write, stderr.write
 *
 * Strings print as they are, other values as JSON where they have one (objects, arrays), else
 * as String(value) (errors too). An uncaught exception prints "Uncaught " and the error with its stack on
 * stderr and exits with 1. Promise jobs run until none is left. Memory comes from the store
 * (the job's memory limit): past it QuickJS throws a catchable InternalError "out of memory".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quickjs.h"

#define SCRIPT "/program/main.js"
/* QuickJS checks how deep its C stack (in linear memory, 1 MiB: see build.sh) goes and throws
   InternalError "stack overflow" past JS_STACK_BYTES. Each level also takes wasm stack, which
   wasmtime bounds (2 MiB, execute.py's WASM_STACK) at about four times this: with 384 KiB a
   recursion ends with the catchable error, not a trap (about 1,400 levels of a small
   function; Node allows about 11,000). */
#define JS_STACK_BYTES (384 * 1024)

static void print_value(JSContext *ctx, FILE *out, JSValueConst value) {
    const char *text = NULL;
    if (JS_IsObject(value) && !JS_IsFunction(ctx, value) && !JS_IsError(ctx, value)) {
        JSValue json = JS_JSONStringify(ctx, value, JS_UNDEFINED, JS_UNDEFINED);
        if (JS_IsString(json))
            text = JS_ToCString(ctx, json);
        else
            JS_FreeValue(ctx, JS_GetException(ctx)); /* a cycle, a BigInt inside: String() below */
        JS_FreeValue(ctx, json);
    }
    if (text == NULL)
        text = JS_ToCString(ctx, value);
    if (text == NULL) {
        JS_FreeValue(ctx, JS_GetException(ctx));
        text = JS_ToCString(ctx, JS_NewString(ctx, "[value]"));
    }
    fputs(text, out);
    JS_FreeCString(ctx, text);
}

static JSValue print_to(JSContext *ctx, FILE *out, int argc, JSValueConst *argv) {
    for (int i = 0; i < argc; i++) {
        if (i > 0)
            fputc(' ', out);
        print_value(ctx, out, argv[i]);
    }
    fputc('\n', out);
    return JS_UNDEFINED;
}

static JSValue js_log(JSContext *ctx, JSValueConst this, int argc, JSValueConst *argv) {
    return print_to(ctx, stdout, argc, argv);
}

static JSValue js_error(JSContext *ctx, JSValueConst this, int argc, JSValueConst *argv) {
    return print_to(ctx, stderr, argc, argv);
}

static JSValue js_read_stdin(JSContext *ctx, JSValueConst this, int argc, JSValueConst *argv) {
    size_t size = 0, capacity = 4096;
    char *buffer = malloc(capacity);
    if (buffer == NULL)
        return JS_ThrowOutOfMemory(ctx);
    for (;;) {
        size += fread(buffer + size, 1, capacity - size, stdin);
        if (size < capacity)
            break;
        char *larger = realloc(buffer, capacity * 2);
        if (larger == NULL) {
            free(buffer);
            return JS_ThrowOutOfMemory(ctx);
        }
        buffer = larger, capacity *= 2;
    }
    JSValue text = JS_NewStringLen(ctx, buffer, size);
    free(buffer);
    return text;
}

static JSValue js_read_line(JSContext *ctx, JSValueConst this, int argc, JSValueConst *argv) {
    size_t size = 0, capacity = 256;
    char *buffer = malloc(capacity);
    int c = EOF;
    if (buffer == NULL)
        return JS_ThrowOutOfMemory(ctx);
    while ((c = getchar()) != EOF && c != '\n') {
        if (size == capacity) {
            char *larger = realloc(buffer, capacity * 2);
            if (larger == NULL) {
                free(buffer);
                return JS_ThrowOutOfMemory(ctx);
            }
            buffer = larger, capacity *= 2;
        }
        buffer[size++] = (char)c;
    }
    JSValue line = (c == EOF && size == 0) ? JS_NULL : JS_NewStringLen(ctx, buffer, size);
    free(buffer);
    return line;
}

/* The whole content of a file as a string, or null. */
static JSValue read_whole(JSContext *ctx, const char *path) {
    FILE *file = fopen(path, "rb");
    if (file == NULL)
        return JS_NULL;
    size_t size = 0, capacity = 4096;
    char *buffer = malloc(capacity);
    while (buffer != NULL) {
        size += fread(buffer + size, 1, capacity - size, file);
        if (size < capacity)
            break;
        char *larger = realloc(buffer, capacity * 2);
        if (larger == NULL)
            free(buffer);
        buffer = larger, capacity *= 2;
    }
    fclose(file);
    if (buffer == NULL)
        return JS_ThrowOutOfMemory(ctx);
    JSValue text = JS_NewStringLen(ctx, buffer, size);
    free(buffer);
    return text;
}

static JSValue js_read_file(JSContext *ctx, JSValueConst this, int argc, JSValueConst *argv) {
    const char *path = JS_ToCString(ctx, argv[0]);
    if (path == NULL)
        return JS_EXCEPTION;
    JSValue text = read_whole(ctx, path);
    JS_FreeCString(ctx, path);
    return text;
}

/* A file of the program's own (a plain name in /program), for require. */
static JSValue js_program_file(JSContext *ctx, JSValueConst this, int argc, JSValueConst *argv) {
    const char *name = JS_ToCString(ctx, argv[0]);
    if (name == NULL)
        return JS_EXCEPTION;
    JSValue text = JS_NULL;
    if (name[0] != '\0' && name[0] != '.' && strchr(name, '/') == NULL && strlen(name) < 256) {
        char path[300];
        snprintf(path, sizeof path, "/program/%s", name);
        text = read_whole(ctx, path);
    }
    JS_FreeCString(ctx, name);
    return text;
}

static JSValue js_exit(JSContext *ctx, JSValueConst this, int argc, JSValueConst *argv) {
    int status = 0;
    if (argc > 0 && JS_ToInt32(ctx, &status, argv[0]) < 0)
        return JS_EXCEPTION;
    fflush(stdout);
    fflush(stderr);
    exit(status);
}

static JSValue js_write(JSContext *ctx, JSValueConst this, int argc, JSValueConst *argv) {
    int fd = 1;
    if (JS_ToInt32(ctx, &fd, argv[0]) < 0)
        return JS_EXCEPTION;
    const char *text = JS_ToCString(ctx, argv[1]);
    if (text == NULL)
        return JS_EXCEPTION;
    fputs(text, fd == 2 ? stderr : stdout);
    JS_FreeCString(ctx, text);
    return JS_TRUE;
}

/* require, process: written in JavaScript on top of the functions above. */
static const char PRELUDE[] =
    "(function (global, programFile, write) {\n"
    "  var modules = {};\n"
    "  global.require = function require(name) {\n"
    "    var file = String(name).replace(/^\\.\\//, '');\n"
    "    if (!/\\.js$/.test(file)) file += '.js';\n"
    "    if (Object.prototype.hasOwnProperty.call(modules, file)) return modules[file].exports;\n"
    "    var source = programFile(file);\n"
    "    if (source === null) throw new Error(\"Cannot find module '\" + name + \"'\");\n"
    "    var module = { exports: {} };\n"
    "    modules[file] = module;\n"
    "    new Function('module', 'exports', 'require', source)(module, module.exports, require);\n"
    "    return module.exports;\n"
    "  };\n"
    "  global.process = { argv: ['qjs', 'main.js'].concat(global.scriptArgs), env: global.process_env,\n"
    "    exit: global.exit,\n"
    "    stdout: { write: function (text) { return write(1, String(text)); } },\n"
    "    stderr: { write: function (text) { return write(2, String(text)); } } };\n"
    "  delete global.process_env;\n"
    "})";

extern char **environ;

static void add_globals(JSContext *ctx, int argc, char **argv) {
    JSValue global = JS_GetGlobalObject(ctx);
    JSValue console = JS_NewObject(ctx);
    const char *to_stdout[] = {"log", "info", "debug"}, *to_stderr[] = {"error", "warn"};
    for (size_t i = 0; i < 3; i++)
        JS_SetPropertyStr(ctx, console, to_stdout[i], JS_NewCFunction(ctx, js_log, to_stdout[i], 1));
    for (size_t i = 0; i < 2; i++)
        JS_SetPropertyStr(ctx, console, to_stderr[i], JS_NewCFunction(ctx, js_error, to_stderr[i], 1));
    JS_SetPropertyStr(ctx, global, "console", console);
    JS_SetPropertyStr(ctx, global, "print", JS_NewCFunction(ctx, js_log, "print", 1));
    JS_SetPropertyStr(ctx, global, "readStdin", JS_NewCFunction(ctx, js_read_stdin, "readStdin", 0));
    JS_SetPropertyStr(ctx, global, "readLine", JS_NewCFunction(ctx, js_read_line, "readLine", 0));
    JSValue args = JS_NewArray(ctx);
    for (int i = 1; i < argc; i++)
        JS_SetPropertyUint32(ctx, args, (uint32_t)(i - 1), JS_NewString(ctx, argv[i]));
    JS_SetPropertyStr(ctx, global, "scriptArgs", args);
    JS_SetPropertyStr(ctx, global, "readFile", JS_NewCFunction(ctx, js_read_file, "readFile", 1));
    JS_SetPropertyStr(ctx, global, "exit", JS_NewCFunction(ctx, js_exit, "exit", 1));
    JSValue env = JS_NewObject(ctx);
    for (char **variable = environ; variable != NULL && *variable != NULL; variable++) {
        const char *equals = strchr(*variable, '=');
        if (equals == NULL)
            continue;
        JSAtom name = JS_NewAtomLen(ctx, *variable, (size_t)(equals - *variable));
        JS_SetProperty(ctx, env, name, JS_NewString(ctx, equals + 1));
        JS_FreeAtom(ctx, name);
    }
    JS_SetPropertyStr(ctx, global, "process_env", env);
    JSValue prelude = JS_Eval(ctx, PRELUDE, sizeof PRELUDE - 1, "<prelude>", JS_EVAL_TYPE_GLOBAL);
    JSValue helpers[] = {JS_DupValue(ctx, global), JS_NewCFunction(ctx, js_program_file, "programFile", 1),
                         JS_NewCFunction(ctx, js_write, "write", 2)};
    JSValue done = JS_Call(ctx, prelude, JS_UNDEFINED, 3, helpers);
    for (int i = 0; i < 3; i++)
        JS_FreeValue(ctx, helpers[i]);
    JS_FreeValue(ctx, done);
    JS_FreeValue(ctx, prelude);
    JS_FreeValue(ctx, global);
}

static int report_exception(JSContext *ctx) {
    JSValue exception = JS_GetException(ctx);
    fputs("Uncaught ", stderr);
    print_value(ctx, stderr, exception);
    fputc('\n', stderr);
    if (JS_IsError(ctx, exception)) {
        JSValue stack = JS_GetPropertyStr(ctx, exception, "stack");
        if (JS_IsString(stack)) {
            const char *text = JS_ToCString(ctx, stack);
            fputs(text, stderr);
            JS_FreeCString(ctx, text);
        }
        JS_FreeValue(ctx, stack);
    }
    JS_FreeValue(ctx, exception);
    return 1;
}

int main(int argc, char **argv) {
    FILE *file = fopen(SCRIPT, "rb");
    if (file == NULL) {
        perror(SCRIPT);
        return 1;
    }
    fseek(file, 0, SEEK_END);
    long length = ftell(file);
    fseek(file, 0, SEEK_SET);
    char *source = malloc((size_t)length + 1);
    if (source == NULL || fread(source, 1, (size_t)length, file) != (size_t)length) {
        fputs("cannot read " SCRIPT "\n", stderr);
        return 1;
    }
    source[length] = '\0';
    fclose(file);

    JSRuntime *runtime = JS_NewRuntime();
    JSContext *ctx = runtime == NULL ? NULL : JS_NewContext(runtime);
    if (ctx == NULL) {
        fputs("cannot start QuickJS: out of memory\n", stderr);
        return 1;
    }
    JS_SetMaxStackSize(runtime, JS_STACK_BYTES);
    add_globals(ctx, argc, argv);
    int status = 0;
    JSValue result = JS_Eval(ctx, source, (size_t)length, "main.js", JS_EVAL_TYPE_GLOBAL);
    if (JS_IsException(result))
        status = report_exception(ctx);
    JS_FreeValue(ctx, result);
    JSContext *job_context;
    while (status == 0) {
        int ran = JS_ExecutePendingJob(runtime, &job_context);
        if (ran == 0)
            break;
        if (ran < 0)
            status = report_exception(job_context);
    }
    fflush(stdout);
    /* No JS_FreeContext/JS_FreeRuntime: the process ends here, and freeing every object of a
       big heap would only take time. */
    return status;
}
