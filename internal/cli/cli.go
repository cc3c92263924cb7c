// Package cli is the small command-line layer of the blueprints binary:
// subcommands with their own --help, flags that may stand before or after
// arguments (as in git), and an environment-variable twin for every flag
// that has one.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
)

// ErrUsage reports bad command-line input; main prints it and exits 2.
var ErrUsage = errors.New("usage")

// Command is one subcommand of the binary.
type Command struct {
	Name    string // "serve", "user add"
	Args    string // "NAME", "FILE.stl"
	Summary string // one line for the command list
	Help    string // paragraphs shown by --help, after the usage line
	// Setup declares the command's flags on fs; it may be nil.
	Setup func(fs *Flags)
	// Run executes the command with the positional arguments.
	Run func(fs *Flags, args []string) error
}

// Flags is a flag set whose flags can have environment-variable twins.
type Flags struct {
	*flag.FlagSet
	env map[string]string // flag name → env var
}

// Env declares that the flag name (already defined) takes its default from
// the environment variable v when that is set.
func (f *Flags) Env(name, v string) {
	f.env[name] = v
}

// Parse parses args, letting flags and positional arguments interleave, and
// applies environment twins to flags not given on the command line.
func (f *Flags) Parse(args []string) ([]string, error) {
	var pos, after []string
	rest := args
	// Everything after "--" is an argument, flags or not. The flag
	// package would drop the "--" and then parse what follows the next
	// argument as flags again.
	if i := slices.Index(args, "--"); i >= 0 {
		rest, after = args[:i], args[i+1:]
	}
	for {
		if err := f.FlagSet.Parse(rest); err != nil {
			return nil, err
		}
		rest = f.FlagSet.Args()
		if len(rest) == 0 {
			break
		}
		pos = append(pos, rest[0])
		rest = rest[1:]
	}
	pos = append(pos, after...)
	set := map[string]bool{}
	f.FlagSet.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	for name, v := range f.env {
		if set[name] {
			continue
		}
		if val, ok := os.LookupEnv(v); ok && val != "" {
			if err := f.FlagSet.Set(name, val); err != nil {
				return nil, &envError{name: v, val: val, err: err}
			}
		}
	}
	return pos, nil
}

// envError is a flag's environment twin holding a value the flag refuses.
type envError struct {
	name, val string
	err       error
}

func (e *envError) Error() string {
	return fmt.Sprintf("environment %s=%q: %v (fix or unset it)", e.name, e.val, e.err)
}

func (e *envError) Unwrap() error { return e.err }

// App is the whole binary: a name and its commands.
type App struct {
	Name     string
	Summary  string
	Commands []*Command
	Stdout   io.Writer
	Stderr   io.Writer
}

// Main runs the command named by args and returns the process exit status.
func (a *App) Main(args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		a.usage(a.Stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, rest := a.find(args)
	if cmd == nil {
		fmt.Fprintf(a.Stderr, "%s: unknown command %q (run '%s --help' for the list)\n", a.Name, strings.Join(args[:min(2, len(args))], " "), a.Name)
		return 2
	}
	fs := &Flags{FlagSet: flag.NewFlagSet(cmd.Name, flag.ContinueOnError), env: map[string]string{}}
	fs.SetOutput(a.Stderr)
	if cmd.Setup != nil {
		cmd.Setup(fs)
	}
	fs.Usage = func() { a.commandHelp(a.Stdout, cmd, fs) }
	pos, err := fs.Parse(rest)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		// The flag package prints its own parse errors; a bad environment
		// value is ours to say.
		var env *envError
		if errors.As(err, &env) {
			fmt.Fprintf(a.Stderr, "%s %s: %v\n", a.Name, cmd.Name, err)
		}
		return 2
	}
	if err := cmd.Run(fs, pos); err != nil {
		if errors.Is(err, ErrUsage) {
			fmt.Fprintf(a.Stderr, "%s %s: %v\nusage: %s %s %s\n", a.Name, cmd.Name, err, a.Name, cmd.Name, cmd.Args)
			return 2
		}
		fmt.Fprintf(a.Stderr, "%s %s: %v\n", a.Name, cmd.Name, err)
		return 1
	}
	return 0
}

func (a *App) find(args []string) (*Command, []string) {
	var best *Command
	bestLen := 0
	for _, c := range a.Commands {
		words := strings.Fields(c.Name)
		if len(words) > len(args) || len(words) <= bestLen {
			continue
		}
		ok := true
		for i, w := range words {
			if args[i] != w {
				ok = false
				break
			}
		}
		if ok {
			best, bestLen = c, len(words)
		}
	}
	if best == nil {
		return nil, nil
	}
	return best, args[bestLen:]
}

func (a *App) usage(w io.Writer) {
	fmt.Fprintf(w, "%s: %s\n\nUsage: %s COMMAND [ARGS] [FLAGS]\n\nCommands:\n", a.Name, a.Summary, a.Name)
	cmds := append([]*Command(nil), a.Commands...)
	sort.SliceStable(cmds, func(i, j int) bool { return cmds[i].Name < cmds[j].Name })
	for _, c := range cmds {
		fmt.Fprintf(w, "  %-32s %s\n", c.Name+" "+c.Args, c.Summary)
	}
	fmt.Fprintf(w, "\nRun '%s COMMAND --help' for a command's flags.\n", a.Name)
}

func (a *App) commandHelp(w io.Writer, c *Command, fs *Flags) {
	usage := strings.Join(strings.Fields(a.Name+" "+c.Name+" "+c.Args), " ")
	fmt.Fprintf(w, "Usage: %s [FLAGS]\n\n%s\n", usage, c.Summary)
	if c.Help != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(c.Help))
	}
	has := false
	fs.VisitAll(func(*flag.Flag) { has = true })
	if !has {
		return
	}
	fmt.Fprintf(w, "\nFlags:\n")
	fs.VisitAll(func(fl *flag.Flag) {
		name, usage := flag.UnquoteUsage(fl)
		line := "  --" + fl.Name
		if name != "" {
			line += " " + name
		}
		fmt.Fprintf(w, "%s\n      %s", line, usage)
		if fl.DefValue != "" && fl.DefValue != "false" && fl.DefValue != "0" {
			fmt.Fprintf(w, " (default %q)", fl.DefValue)
		}
		if v, ok := fs.env[fl.Name]; ok {
			fmt.Fprintf(w, " [$%s]", v)
		}
		fmt.Fprintln(w)
	})
}
