package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/stafet/stafet/bench"
	"github.com/stafet/stafet/engine"
)

// cmdBench measures Stafet against raw JetStream, side by side, on fresh
// embedded servers (package bench, docs/performance.md).
func cmdBench(ctx context.Context, e env) error {
	fs, asJSON := newFlags("bench", e)
	d := bench.Defaults()
	o := bench.Options{Progress: e.stderr}
	fs.IntVar(&o.Events, "events", d.Events, "events in the workload (the log holds this many)")
	fs.Func("phase", "phase to run (repeatable): "+strings.Join(bench.Phases(), ", ")+"; default all", func(v string) error {
		if !slices.Contains(bench.Phases(), v) {
			return fmt.Errorf("unknown phase %q: want one of %s", v, strings.Join(bench.Phases(), ", "))
		}
		o.Phases = append(o.Phases, v)
		return nil
	})
	fs.Func("durability", "safe (fsync before every acknowledgement, the default) or bulk", func(v string) error {
		o.Durability = engine.Durability(v)
		return engine.Config{Durability: o.Durability}.Validate()
	})
	fs.Uint64Var(&o.Seed, "seed", 1, "the workload's seed")
	fs.IntVar(&o.Rounds, "rounds", d.Rounds, "rounds the append and replay phases alternate their sides")
	fs.DurationVar(&o.MaxWrite, "max-write", d.MaxWrite, "stop each side's writes in append (every side alike) and mllp after this long")
	fs.IntVar(&o.Writers, "writers", d.Writers, "goroutines appending in the append phase")
	fs.IntVar(&o.Conns, "conns", d.Conns, "MLLP connections in the mllp phase")
	fs.IntVar(&o.AlertRate, "alert-rate", d.AlertRate, "events a second appended in the alert phase")
	fs.DurationVar(&o.AlertFor, "alert-for", d.AlertFor, "how long the alert phase appends")
	fs.IntVar(&o.MLLPMessages, "mllp-messages", d.MLLPMessages, "most HL7 messages the mllp phase sends")
	fs.IntVar(&o.RestartTail, "restart-tail", 0, "events after the checkpoint the restart phase restores (default a minute of the workload's traffic)")
	fs.Func("peer", "also measure this store's append and replay beside raw JetStream's: "+bench.PeerPostgres+" (a plain events table and Message DB's schema on a PostgreSQL server of the bench's own)", func(v string) error {
		if v != bench.PeerPostgres {
			return fmt.Errorf("unknown peer %q: want %s", v, bench.PeerPostgres)
		}
		o.Peer = v
		return nil
	})
	fs.IntVar(&o.PeerConns, "peer-conns", d.PeerConns, "the peer's connections in the append phase")
	fs.StringVar(&o.Tmp, "tmp", "", "directory for the servers' data (default the system's temporary directory)")
	fs.StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of each phase's measured Stafet part to FILE-<phase>")
	markdown := fs.Bool("markdown", false, "print the result as a Markdown table (docs/performance.md's form)")
	update := fs.String("update", "", "replace this mode's table in the Markdown `file` (between its \"stafet bench\" markers) with this run's")
	fs.Usage = func() {
		fmt.Fprintln(e.stderr, "usage: stafet bench [-events N] [-phase P]... [-durability safe|bulk] [-peer postgres] [-rounds R] [-json | -markdown] [-update FILE]")
		fs.VisitAll(func(f *flag.Flag) {
			switch {
			case f.Name == "cpuprofile":
			case f.DefValue == "" || f.DefValue == "false" || f.DefValue == "0":
				fmt.Fprintf(e.stderr, "  -%s\t%s\n", f.Name, f.Usage)
			default:
				fmt.Fprintf(e.stderr, "  -%s\t%s (default %s)\n", f.Name, f.Usage, f.DefValue)
			}
		})
	}
	if err := fs.Parse(e.args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return &exitError{2, fmt.Errorf("bench: unexpected arguments %q", fs.Args())}
	}
	if *asJSON && *markdown {
		return &exitError{2, fmt.Errorf("bench: -json or -markdown, not both")}
	}
	if err := o.Validate(); err != nil {
		return &exitError{2, err}
	}
	if *update != "" {
		// Check it first: a run takes minutes, a missing file seconds.
		if err := spliceFile(*update, durability(o), nil); err != nil {
			return err
		}
	}
	res, err := bench.Run(ctx, o)
	if err != nil {
		return err
	}
	res.Command = strings.Join(append([]string{"stafet bench"}, e.args...), " ")
	if *update != "" {
		var md bytes.Buffer
		if err := res.WriteMarkdown(&md); err != nil {
			return err
		}
		if err := spliceFile(*update, res.Durability, md.Bytes()); err != nil {
			return err
		}
	}
	switch {
	case *asJSON:
		return printJSON(e.stdout, res)
	case *markdown:
		return res.WriteMarkdown(e.stdout)
	}
	return res.WriteTable(e.stdout)
}

// durability is the mode a run with o uses.
func durability(o bench.Options) engine.Durability {
	if o.Durability == "" {
		return bench.Defaults().Durability
	}
	return o.Durability
}

// spliceFile writes md into the Markdown file path between mode's markers,
// reading the file as it is now (it may have been edited during the
// run); with md nil it only checks that it can.
func spliceFile(path string, mode engine.Durability, md []byte) error {
	doc, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	out, err := bench.Splice(doc, mode, md)
	if err != nil || md == nil {
		return err
	}
	if err := os.WriteFile(path, out, 0o644); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	return nil
}
