package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strings"
)

// cmdPatient erases a patient: stafet patient erase -reason R CPR. The
// number may be "-", read from standard input, so that it stays out of
// the shell's history and the process list.
func cmdPatient(ctx context.Context, e env) error {
	const usage = "usage: stafet patient erase -reason REASON CPR|-"
	if len(e.args) == 0 || e.args[0] != "erase" {
		return errors.New(usage)
	}
	fs, asJSON := newFlags("patient erase", e)
	reason := fs.String("reason", "", "why the patient is erased (kept in the access log)")
	if err := fs.Parse(e.args[1:]); err != nil {
		return err
	}
	if fs.NArg() != 1 || strings.TrimSpace(*reason) == "" {
		return errors.New(usage)
	}
	cpr := fs.Arg(0)
	if cpr == "-" {
		line, err := bufio.NewReader(e.stdin).ReadString('\n')
		if err != nil && line == "" {
			return fmt.Errorf("patient erase: no CPR number on standard input")
		}
		cpr = strings.TrimSpace(line)
	}
	c, err := newClient(e)
	if err != nil {
		return err
	}
	var out struct {
		Patient     string   `json:"patient"`
		Patients    []string `json:"patients"`
		Pathways    []string `json:"pathways"`
		Raw         []uint64 `json:"raw_erased"`
		DeadLetters []uint64 `json:"dead_letters_erased"`
	}
	req := map[string]string{"cpr": cpr, "reason": *reason}
	if err := c.getJSON(ctx, "POST", "/v1/patients/erase", req, &out); err != nil {
		return err
	}
	if *asJSON {
		return printJSON(e.stdout, out)
	}
	fmt.Fprintf(e.stdout, "Erased patient %s: %d key(s) destroyed, %d pathway(s) now without identity, %d raw message(s) and %d dead letter(s) erased.\n",
		out.Patient, len(out.Patients), len(out.Pathways), len(out.Raw), len(out.DeadLetters))
	for _, pw := range out.Pathways {
		fmt.Fprintf(e.stdout, "  pathway %s\n", pw)
	}
	return nil
}
