package main

import (
	"errors"
	"flag"
	"io"
)

// parseFlags parses args into fs. --help prints usage once, on stdout (exit 0); a bad
// flag prints the flag package's message and usage on stderr (exit 2). done is false
// when the command goes on.
func parseFlags(fs *flag.FlagSet, args []string, usage func(w io.Writer), stdout, stderr io.Writer) (code int, done bool) {
	fs.SetOutput(stderr)
	fs.Usage = func() {} // printed below, once, where it belongs
	err := fs.Parse(args)
	switch {
	case err == nil:
		return 0, false
	case errors.Is(err, flag.ErrHelp):
		usage(stdout)
		return 0, true
	default:
		usage(stderr)
		return 2, true
	}
}

// printFlags writes the flags of fs to w.
func printFlags(fs *flag.FlagSet, w io.Writer) {
	out := fs.Output()
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(out)
}
