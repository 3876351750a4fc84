package wasmtask

import (
	"fmt"

	"github.com/wasmtask/wasmtask/abi"
)

// Level is the severity of a log line.
type Level uint32

// Log levels, as abi/SPEC.md numbers them.
const (
	LevelDebug = Level(abi.LogDebug)
	LevelInfo  = Level(abi.LogInfo)
	LevelWarn  = Level(abi.LogWarn)
	LevelError = Level(abi.LogError)
)

// Log writes msg as one line of the webtask's container log (read it with
// GET /api/logs/tenant/{container}). The host cuts lines past 8 KiB.
// Writing to os.Stdout or os.Stderr (fmt.Println, log.Print) also logs, at
// info and error level, one line per "\n".
func Log(level Level, msg string) { hostLog(uint32(level), msg) }

// Logf logs a message formatted as fmt.Sprintf does.
func Logf(level Level, format string, args ...any) {
	hostLog(uint32(level), fmt.Sprintf(format, args...))
}

// Println logs its operands at info level, formatted as fmt.Println does
// (without the final newline): the console.log of a webtask.
func Println(args ...any) {
	s := fmt.Sprintln(args...)
	hostLog(uint32(LevelInfo), s[:len(s)-1])
}
