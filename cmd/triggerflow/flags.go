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

// parseInterspersed is parseFlags for a command with arguments: flags may come before and
// after them (`trace 4711 --json`); "--" ends the flags. It returns the arguments.
func parseInterspersed(fs *flag.FlagSet, args []string, usage func(w io.Writer), stdout, stderr io.Writer) (pos []string, code int, done bool) {
	for {
		if code, done := parseFlags(fs, args, usage, stdout, stderr); done {
			return nil, code, true
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, 0, false
		}
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			return append(pos, rest...), 0, false
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}
