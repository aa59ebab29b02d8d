package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/stafet/stafet/adapters/translate/hl7v2"
	"github.com/stafet/stafet/adapters/translate/medcom"
	"github.com/stafet/stafet/events"
)

// cmdTranslate prints, as JSON lines, the events each message yields, or
// the reason it cannot be translated (exit status 1). It runs offline:
// integrators test their feeds with it before they connect.
func cmdTranslate(ctx context.Context, e env) error {
	fs, _ := newFlags("translate", e)
	from := fs.String("from", "", "hl7v2 or medcom")
	orgs := fs.String("organisations", e.getenv("STAFET_ORGANISATIONS"), "organisations file (JSON), as stafetd's")
	if err := fs.Parse(e.args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return fmt.Errorf("usage: stafet translate -from hl7v2|medcom FILE...")
	}
	dir, err := loadDirectory(*orgs)
	if err != nil {
		return err
	}
	var translate func([]byte) (*events.Translation, error)
	switch *from {
	case "hl7v2":
		loc, _ := time.LoadLocation("Europe/Copenhagen")
		translate = hl7v2.NewTranslator(dir, loc).Translate
	case "medcom":
		translate = medcom.NewTranslator(dir).Translate
	default:
		return fmt.Errorf("-from %q: want hl7v2 or medcom", *from)
	}
	failed := 0
	enc := json.NewEncoder(e.stdout)
	for _, file := range fs.Args() {
		body, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		tr, err := translate(body)
		if err != nil {
			failed++
			var me *events.MessageError
			if errors.As(err, &me) {
				fmt.Fprintf(e.stderr, "%s: %s: %s (%s)\n", file, orDash(me.Field), me.Reason, me.Code)
			} else {
				fmt.Fprintf(e.stderr, "%s: %v\n", file, err)
			}
			continue
		}
		for _, line := range translationLines(file, tr) {
			enc.Encode(line)
		}
	}
	if failed > 0 {
		return &exitError{code: 1, err: fmt.Errorf("%d of %d messages could not be translated", failed, fs.NArg())}
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// translationLines renders a translation as one JSON object per event.
// The patient appears only as "patient: present"; translate output goes to
// terminals and files, where a CPR number does not belong.
func translationLines(file string, tr *events.Translation) []map[string]any {
	common := map[string]any{
		"file": file, "occurred_at": tr.OccurredAt, "actor": tr.Actor.Org,
		"source":  map[string]string{"system": tr.Source.System, "org": string(tr.Source.Org), "message_id": tr.Source.MessageID},
		"episode": tr.Episode, "patient": tr.Patient.CPR != "",
	}
	var out []map[string]any
	add := func(kv map[string]any) {
		line := map[string]any{}
		for k, v := range common {
			line[k] = v
		}
		for k, v := range kv {
			line[k] = v
		}
		out = append(out, line)
	}
	if tr.Cancels != nil {
		add(map[string]any{"type": "Correction", "cancels": tr.Cancels})
	}
	for _, p := range tr.Payloads {
		add(map[string]any{"type": p.Type(), "data": p})
	}
	if tr.MergedPatient != nil {
		add(map[string]any{"type": events.TypePatientIdentityMerged, "merged_patient": true})
	}
	if len(out) == 0 {
		add(map[string]any{"type": nil, "note": "the message means nothing for a pathway; stafetd stores it raw and acknowledges it"})
	}
	return out
}

func loadDirectory(file string) (*events.Directory, error) {
	if file == "" {
		return events.NewDirectory(nil)
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return events.NewDirectory(f)
}
