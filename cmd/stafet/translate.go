package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/stafet/stafet/adapters/translate/hl7v2"
	"github.com/stafet/stafet/adapters/translate/medcom"
	"github.com/stafet/stafet/events"
)

// cmdTranslate prints, as JSON lines, what each message names (its sender,
// receiver and other organisations, and what the directory makes of
// them) and the events it yields, or the reason it cannot be translated
// (exit status 1). It runs offline: integrators test their feeds with it
// before they connect. An HL7 batch file is split into its messages; a
// MedCom message may come in its VANS envelope.
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
	dir, err := events.LoadDirectory(*orgs)
	if err != nil {
		return err
	}
	var f feed
	switch *from {
	case "hl7v2":
		loc, _ := time.LoadLocation("Europe/Copenhagen")
		tr := hl7v2.NewTranslator(dir, loc)
		f = feed{translate: tr.Translate, parties: tr.Parties, split: splitHL7}
	case "medcom":
		tr := medcom.NewTranslator(dir)
		f = feed{translate: tr.Translate, parties: tr.Parties, envelope: envelopeOf, split: func(b []byte) ([][]byte, string, error) { return [][]byte{b}, "", nil }}
	default:
		return fmt.Errorf("-from %q: want hl7v2 or medcom", *from)
	}
	failed, total := 0, 0
	enc := json.NewEncoder(e.stdout)
	for _, file := range fs.Args() {
		body, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		msgs, problem, err := f.split(body)
		if err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		if problem != "" {
			fmt.Fprintf(e.stderr, "%s: %s\n", file, problem)
		}
		for i, msg := range msgs {
			total++
			name := file
			if len(msgs) > 1 {
				name = fmt.Sprintf("%s#%d", file, i+1)
			}
			if !f.run(enc, e.stderr, name, msg) {
				failed++
			}
		}
	}
	if failed > 0 {
		return &exitError{code: 1, err: fmt.Errorf("%d of %d messages could not be translated", failed, total)}
	}
	return nil
}

// feed is one channel's translator and what stafet translate shows of it.
type feed struct {
	translate func([]byte) (*events.Translation, error)
	parties   func([]byte) []events.Party
	// envelope describes the envelope a message came in; nil when the
	// channel has none.
	envelope func([]byte) any
	// split returns the messages of a file, and what is amiss with it.
	split func([]byte) ([][]byte, string, error)
}

// run prints one message's parties and events, or its error; false when
// it does not translate.
func (f feed) run(enc *json.Encoder, stderr io.Writer, name string, msg []byte) bool {
	tr, err := f.translate(msg)
	head := map[string]any{"file": name}
	if tr != nil {
		head["parties"] = tr.Parties
	} else if p := f.parties(msg); p != nil {
		head["parties"] = p
	}
	if f.envelope != nil {
		if env := f.envelope(msg); env != nil {
			head["envelope"] = env
		}
	}
	enc.Encode(head)
	if err != nil {
		var me *events.MessageError
		if errors.As(err, &me) {
			fmt.Fprintf(stderr, "%s: %s: %s (%s)\n", name, orDash(me.Field), me.Reason, me.Code)
		} else {
			fmt.Fprintf(stderr, "%s: %v\n", name, err)
		}
		return false
	}
	for _, line := range translationLines(name, tr) {
		enc.Encode(line)
	}
	return true
}

// splitHL7 splits a batch file (FHS/BHS … BTS/FTS, or messages one after
// another) into its messages; anything else is one message, for the
// translator to judge.
func splitHL7(body []byte) ([][]byte, string, error) {
	if !hl7v2.IsFile(body) {
		return [][]byte{body}, "", nil
	}
	f, err := hl7v2.SplitFile(body)
	if err != nil {
		return [][]byte{body}, "", nil
	}
	var problems []string
	for _, b := range f.Batches {
		if p := b.Problem(); p != "" {
			problems = append(problems, p)
		}
	}
	return f.Messages(), strings.Join(problems, "; "), nil
}

// envelopeOf describes the VANS envelope of a MedCom message, or nil.
func envelopeOf(body []byte) any {
	if m, err := medcom.ParseUnchecked(body); err == nil && m.Envelope != nil {
		return m.Envelope
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
		"episode": tr.Episode, "patient": tr.Patient.Known(),
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
