package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/stafet/stafet/events"
)

// Intake takes inbound messages into the log, whatever their channel, in
// one place and in the order that keeps the engine's promises: store raw
// → translate → pseudonymise → resolve the pathway → append → link the
// episode and documents → commit; a message that fails for a reason that
// will not pass goes to the dead letters. Nothing is answered before it
// is on disk. A closed pathway's patient is released with the close
// (Log.Execute), so a readmission opens a new pathway that names the
// closed one (PathwayOpened.previous). A channel supplies only its
// Translate. Get it from Store.NewIntake.
type Intake struct {
	log    *Log
	inbox  *Inbox
	index  *PathwayIndex
	vault  *Vault
	dir    *events.Directory
	logger *slog.Logger
	hints  *episodeHints
}

// Translate reads an inbound message: the events it means, or a
// *events.MessageError saying why it means none. A channel's translator
// (adapters/translate/…).
type Translate func(m RawMessage) (*events.Translation, error)

// NewIntake returns an Intake that places new pathways in the health
// cluster the directory gives. A nil logger discards.
func (s *Store) NewIntake(dir *events.Directory, logger *slog.Logger) *Intake {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Intake{log: s.eventLog, inbox: s.inbox, index: s.index, vault: s.vault, dir: dir, logger: logger, hints: newEpisodeHints(maxHints)}
}

// maxHints bounds the episodes whose pathway the ingest remembers (twice
// this many at most, about 100 bytes each): more than the stays a
// deployment has open at once.
const maxHints = 1 << 16

// Outcome is what became of one inbound message.
type Outcome struct {
	RawSeq      uint64
	Pathway     uuid.UUID
	Result      Result
	Translation *events.Translation
	// Resend: the raw message was stored before (same system, sender and
	// control id).
	Resend bool
}

// DeadLetterError is a message that was stored raw but could not go
// further. It carries the dead letter that now holds it.
type DeadLetterError struct {
	DeadLetter DeadLetter
	Err        error
}

func (e *DeadLetterError) Error() string {
	return fmt.Sprintf("engine: raw %d: %v", e.DeadLetter.RawSeq, e.Err)
}

func (e *DeadLetterError) Unwrap() error { return e.Err }

// Receive stores the message raw, then translates and appends it. A
// resend (same system, sender and control id) is recognised and appended
// once; it gets the same answer as the original. An error other than
// *DeadLetterError means the message may not be stored: the sender must
// not be told it was received.
//
// The message is translated first, so that a message naming a patient is
// stored sealed under the patient's key (made if the patient is new):
// erasing the patient then erases it too. The raw store's write overlaps
// with the read-only lookup of the pathway; nothing is written on the
// message's behalf (a reservation, an index entry, an event, a dead
// letter) before the raw message is stored, but for the patient's key,
// which holds nothing of the message.
func (in *Intake) Receive(ctx context.Context, m RawMessage, translate Translate) (Outcome, error) {
	if m.ReceivedAt.IsZero() {
		m.ReceivedAt = time.Now().UTC()
	}
	tr, terr := translate(m)
	key, err := in.sealFor(ctx, &m, tr, terr)
	if err != nil {
		return Outcome{}, err
	}
	raw, err := in.inbox.sendSealed(m, key)
	if err != nil {
		return Outcome{}, err
	}
	out, err := in.process(ctx, m, m.ControlID, raw.Wait, tr, terr, key)
	if r, ok := receiptOf(m, out, err); ok {
		in.inbox.note(r)
	}
	return out, err
}

// sealFor sets the patient whose key seals the raw message, and returns
// the key: the patient its translation names, if any.
func (in *Intake) sealFor(ctx context.Context, m *RawMessage, tr *events.Translation, terr error) ([]byte, error) {
	if terr != nil || !tr.Patient.Known() {
		return nil, nil
	}
	ref, err := in.vault.Patient(tr.Patient)
	if err != nil {
		// Not a CPR number: the message goes to the dead letters, sealed
		// under the deployment's raw key.
		return nil, nil
	}
	m.Patient = ref
	return in.vault.sealingKey(ctx, ref)
}

// Replay runs a dead letter's message through again, after a mapping fix,
// or with a corrected body when body is not nil (the corrected body is
// stored raw too, pointing at the original). On success the dead letter
// is resolved.
func (in *Intake) Replay(ctx context.Context, rawSeq uint64, body []byte, translate Translate) (Outcome, error) {
	if _, err := in.inbox.DeadLetter(ctx, rawSeq); err != nil {
		return Outcome{}, err
	}
	m, err := in.inbox.Message(ctx, rawSeq)
	if err != nil {
		return Outcome{}, err
	}
	original := m
	controlID := m.ControlID
	if body != nil {
		fixed := m
		fixed.Body, fixed.Replaces, fixed.ReceivedAt, fixed.Patient = body, rawSeq, time.Time{}, ""
		fixed.ControlID = fmt.Sprintf("%s#fix@%d", m.ControlID, time.Now().UnixNano())
		m = fixed
	}
	tr, terr := translate(m)
	key, err := in.sealFor(ctx, &m, tr, terr)
	if err != nil {
		return Outcome{}, err
	}
	if body != nil {
		p, err := in.inbox.sendSealed(m, key)
		if err != nil {
			return Outcome{}, err
		}
		stored, err := p.Wait(ctx)
		if err != nil {
			return Outcome{}, err
		}
		m.Seq = stored.Seq
	}
	out, err := in.process(ctx, m, controlID, func(context.Context) (StoredRaw, error) {
		return StoredRaw{Seq: m.Seq, Duplicate: true}, nil
	}, tr, terr, key)
	out.Resend = false
	if r, ok := receiptOf(m, out, err); ok {
		r.Replay = body == nil
		in.inbox.note(r)
	}
	if err != nil {
		return out, err
	}
	if body != nil {
		if err = in.inbox.ResolveDeadLetter(ctx, rawSeq); err == nil {
			// The original is no dead letter any more: its corrected body
			// went through in its place.
			orig, _ := receiptOf(original, Outcome{RawSeq: rawSeq, Pathway: out.Pathway, Translation: out.Translation}, nil)
			orig.Replay, orig.ResolvedBy = true, out.RawSeq
			in.inbox.note(orig)
		}
	}
	return out, err
}

// process appends a message's translation (tr, or the error terr); the
// events' source message id is the translator's message id or else the
// original control id, so a corrected resend cannot double them. stored
// waits until the raw message is stored; key is the patient's key, which
// seals the identity of a pathway the message opens.
func (in *Intake) process(ctx context.Context, m RawMessage, controlID string, stored func(context.Context) (StoredRaw, error), tr *events.Translation, terr error, key []byte) (Outcome, error) {
	var loc located
	if terr == nil && tr.Patient.Known() && !meansNothing(tr) {
		loc = in.locate(ctx, tr, true)
		loc.key = key
	}
	st, err := stored(ctx)
	if err != nil {
		return Outcome{}, err
	}
	m.Seq = st.Seq
	out := Outcome{RawSeq: m.Seq, Resend: st.Duplicate}
	if terr != nil {
		return out, in.dead(ctx, m, terr)
	}
	out.Translation = tr
	if meansNothing(tr) {
		// The message means nothing for a pathway (an outpatient visit, a
		// pre-admission, an update with nothing Stafet follows): stored
		// raw, and done once it is on disk.
		return out, in.log.Commit(ctx)
	}
	if tr.Source.MessageID == "" {
		// The translator knows the message's own id best (MedCom's
		// MessageHeader.id survives a resend with a new Bundle.id); without
		// one, the channel's control id is the idempotency id.
		tr.Source.MessageID = controlID
	}
	pw, res, err := in.appendAndJoin(ctx, tr, m.Seq, loc)
	out.Pathway, out.Result = pw, res
	if err != nil {
		if isPermanent(err) {
			return out, in.dead(ctx, m, err)
		}
		return out, err
	}
	if res.Duplicate {
		// Nothing appended, so no append made the raw message durable.
		if err := in.log.Commit(ctx); err != nil {
			return out, err
		}
	}
	if st.Duplicate {
		// Only a message seen before can have a dead letter to resolve; a
		// first arrival saves the write.
		if err := in.inbox.ResolveDeadLetter(ctx, m.Seq); err != nil {
			in.logger.Warn("could not resolve dead letter", "raw_seq", m.Seq, "err", err)
		}
	}
	return out, nil
}

// rawRef names a raw message as the correlation and causation of the
// events it became.
func rawRef(seq uint64) string { return "raw/" + strconv.FormatUint(seq, 10) }

func meansNothing(tr *events.Translation) bool {
	return len(tr.Payloads) == 0 && tr.Cancels == nil && tr.MergedPatient == nil
}

// located is what the ingest knows of a message's pathway before it writes
// anything: the patient's pseudonym and, when the episode of care is
// linked, its pathway.
type located struct {
	ref     events.PatientRef
	pathway uuid.UUID
	// found: the episode is linked to pathway; hinted: the link came from
	// the hints, not from the index.
	found, hinted bool
	err           error
	// key is the patient's key, read when the raw message was sealed.
	key []byte
}

// locate pseudonymises the patient and finds the pathway the episode is
// linked to, from the hints if useHints, else from the pathway index.
func (in *Intake) locate(ctx context.Context, tr *events.Translation, useHints bool) located {
	var l located
	ref, err := in.vault.Patient(tr.Patient)
	if err != nil {
		l.err = &events.MessageError{Code: "bad-patient-id", Field: "patient", Reason: err.Error()}
		return l
	}
	l.ref = ref
	if tr.Episode == "" {
		return l
	}
	if useHints {
		if l.pathway, l.found = in.hints.get(tr.Episode); l.found {
			l.hinted = true
			return l
		}
	}
	l.pathway, l.found, l.err = in.index.Episode(ctx, tr.Episode)
	if l.found {
		in.hints.put(tr.Episode, l.pathway)
	}
	return l
}

func (in *Intake) appendTranslation(ctx context.Context, tr *events.Translation, rawSeq uint64, loc located) (uuid.UUID, Result, error) {
	if !tr.Patient.Known() {
		return in.appendByDocument(ctx, tr, rawSeq)
	}
	pw, res, err := in.appendToPatient(ctx, tr, rawSeq, loc)
	if !loc.found && isRule(err, "closed") {
		// The patient's entry named a pathway that closed without marking
		// the entry (closed before readmissions were linked, or the mark
		// failed): mark it now, and the message opens the readmission.
		if err := in.index.ReleasePatient(ctx, loc.ref, pw); err != nil {
			return pw, res, err
		}
		return in.appendToPatient(ctx, tr, rawSeq, loc)
	}
	if err == nil || !loc.hinted || !isPermanent(err) {
		return pw, res, err
	}
	// Refused on a pathway the hints named: ask the index before the
	// refusal stands.
	in.hints.drop(tr.Episode)
	again := in.locate(ctx, tr, false)
	if again.err != nil {
		return pw, res, again.err
	}
	if again.found && again.pathway == pw {
		return pw, res, err
	}
	again.key = loc.key
	return in.appendToPatient(ctx, tr, rawSeq, again)
}

// appendToPatient appends to the pathway loc found, else to the patient's
// open pathway, else to a new one it opens, which follows the patient's
// closed pathway if there is one. The episode's link is sent
// as soon as the pathway is known and waited for before the append, whose
// commit then makes it durable too (in the safe mode a link answered after
// the append would need a sync of its own).
func (in *Intake) appendToPatient(ctx context.Context, tr *events.Translation, rawSeq uint64, loc located) (uuid.UUID, Result, error) {
	if loc.err != nil {
		return uuid.Nil, Result{}, loc.err
	}
	pw := loc.pathway
	seal := func(ctx context.Context, id events.Identity) (*events.SealedIdentity, error) {
		if loc.key != nil {
			return events.Seal(loc.key, loc.ref, id)
		}
		return in.vault.Seal(ctx, loc.ref, id)
	}
	isNew, previous := false, uuid.Nil
	var link *indexWrite
	if !loc.found {
		r, err := in.index.Reserve(ctx, loc.ref)
		if err != nil {
			return uuid.Nil, Result{}, err
		}
		pw, isNew, previous = r.Pathway, r.New, r.Previous
		if tr.Episode != "" {
			if link, err = in.index.sendEpisodeLink(tr.Episode, pw); err != nil {
				return pw, Result{}, err
			}
		}
	}
	cmd, err := in.command(ctx, tr, rawSeq, pw, loc.ref, isNew, previous, seal)
	if err != nil {
		return pw, Result{}, err
	}
	if link != nil {
		if err := link.Wait(ctx); err != nil {
			return pw, Result{}, err
		}
	}
	res, err := in.log.Execute(ctx, cmd)
	if errors.Is(err, events.ErrUnknownPathway) && !isNew {
		// The pathway was reserved but its opening never landed (a crash,
		// or a first message that failed): open it now.
		if err := in.withOpening(ctx, tr, &cmd, loc.ref, previous, seal); err != nil {
			return pw, Result{}, err
		}
		res, err = in.log.Execute(ctx, cmd)
	}
	if err == nil {
		err = in.linkDocuments(ctx, pw, tr.Payloads)
	}
	if err == nil && link != nil {
		in.hints.put(tr.Episode, pw)
	}
	return pw, res, err
}

// linkDocuments remembers the pathway of every document sent, for the
// acknowledgements that will name only the document; also for a resend,
// whose original's links may not have landed. The links are sent
// together and waited for together, then made durable.
func (in *Intake) linkDocuments(ctx context.Context, pw uuid.UUID, ps []events.Payload) error {
	var writes []*indexWrite
	for _, p := range ps {
		if d, ok := p.(*events.DocumentSent); ok {
			w, err := in.index.sendDocumentLink(d.Document, pw)
			if err != nil {
				return err
			}
			writes = append(writes, w)
		}
	}
	if len(writes) == 0 {
		return nil
	}
	for _, w := range writes {
		if err := w.Wait(ctx); err != nil {
			return err
		}
	}
	return in.log.Commit(ctx)
}

// command builds the command: the translation's events, with the
// cancellations' Corrections, and the opening of a new pathway
// (which follows previous, if not nil).
func (in *Intake) command(ctx context.Context, tr *events.Translation, rawSeq uint64, pw uuid.UUID, ref events.PatientRef, isNew bool, previous uuid.UUID,
	seal func(context.Context, events.Identity) (*events.SealedIdentity, error)) (events.Command, error) {
	cmd := events.Command{
		Pathway: pw, Actor: tr.Actor, Source: tr.Source, OccurredAt: tr.OccurredAt,
		Correlation: rawRef(rawSeq), Causation: rawRef(rawSeq),
		Payloads: tr.Payloads,
	}
	if err := in.extras(ctx, tr, &cmd); err != nil {
		return cmd, err
	}
	if isNew {
		if err := in.withOpening(ctx, tr, &cmd, ref, previous, seal); err != nil {
			return cmd, err
		}
	}
	return cmd, nil
}

// appendByDocument handles a message that names no patient — an
// acknowledgement — by the pathway of the document it is about.
func (in *Intake) appendByDocument(ctx context.Context, tr *events.Translation, rawSeq uint64) (uuid.UUID, Result, error) {
	var doc string
	for _, p := range tr.Payloads {
		if a, ok := p.(*events.DocumentAcknowledged); ok {
			doc = a.Document
		}
	}
	if doc == "" {
		return uuid.Nil, Result{}, &events.MessageError{Code: "missing-field", Field: "patient", Reason: "the message names no patient"}
	}
	pw, ok, err := in.index.Document(ctx, doc)
	if err != nil {
		return uuid.Nil, Result{}, err
	}
	if !ok {
		return uuid.Nil, Result{}, &events.MessageError{Code: "unknown-document", Field: "document", Reason: "no pathway has a document " + doc}
	}
	res, err := in.log.Execute(ctx, events.Command{
		Pathway: pw, Actor: tr.Actor, Source: tr.Source, OccurredAt: tr.OccurredAt,
		Correlation: rawRef(rawSeq), Causation: rawRef(rawSeq), Payloads: tr.Payloads,
	})
	return pw, res, err
}

// withOpening puts a PathwayOpened in front of the command's events.
func (in *Intake) withOpening(ctx context.Context, tr *events.Translation, cmd *events.Command, ref events.PatientRef, previous uuid.UUID,
	seal func(context.Context, events.Identity) (*events.SealedIdentity, error)) error {
	sealed, err := seal(ctx, tr.Patient)
	if err != nil {
		return err
	}
	open := &events.PathwayOpened{
		Patient: ref, Identity: sealed, Cluster: in.cluster(tr),
		Municipality: tr.Municipality, GP: tr.GP, Episode: tr.Episode, Previous: previous,
	}
	// The age band, not the birth date: the CPR number never leaves here
	// in clear.
	open.AgeBand, _ = events.AgeBandOf(tr.Patient.CPR, tr.OccurredAt)
	cmd.Payloads = append([]events.Payload{open}, cmd.Payloads...)
	return nil
}

// cluster picks the body a new pathway belongs to, in force at the
// opening's valid time (a sundhedsklynge up to 2026-12-31, a sundhedsråd
// from 2027-01-01): the translation's, mapped to its successor if it is
// no longer in force, else the hospital's, else the patient's
// municipality's. It names the pathway's subject for life.
func (in *Intake) cluster(tr *events.Translation) string {
	if tr.Cluster != "" {
		if c, ok := in.dir.Successor(tr.Cluster, tr.OccurredAt); ok {
			return c
		}
	}
	for _, org := range []events.OrgID{tr.Hospital, tr.Municipality, tr.Actor.Org, tr.Source.Org} {
		if c := in.dir.ClusterAt(org, tr.OccurredAt); c != "" {
			return c
		}
	}
	return Unassigned
}

// Unassigned is the cluster of a pathway whose organisations are not in
// the directory; operators see these in the gap list and fix the
// organisations file.
const Unassigned = "unassigned"

// extras adds what needs the pathway's history: Corrections for
// cancellations. (A merge or link of two identities is join's.)
func (in *Intake) extras(ctx context.Context, tr *events.Translation, cmd *events.Command) error {
	if tr.Cancels != nil {
		history, err := in.log.Load(ctx, cmd.Pathway)
		if err != nil {
			return err
		}
		corr, err := corrections(history, tr.Cancels)
		if err != nil {
			return err
		}
		cmd.Payloads = append(corr, cmd.Payloads...)
	}
	return nil
}

// corrections finds the events a cancellation annuls: the latest live
// event of a type, or the live events of an earlier message. If a
// correction (MedCom RE_) already replaced that message's events, the
// cancellation follows it to the replacing message's events, as MedCom's
// own AN_ examples name the original message.
func corrections(history []events.Envelope, c *events.Cancel) ([]events.Payload, error) {
	p := events.Fold(history)
	live := func(e *events.Envelope) bool {
		return e.Type != events.TypeCorrection && e.Type != events.TypePathwayOpened && !p.Annulled(e.ID)
	}
	if c.SourceMessageID == "" {
		for i := len(history) - 1; i >= 0; i-- {
			if e := &history[i]; live(e) && e.Type == c.Type {
				return []events.Payload{&events.Correction{Annuls: e.ID, Reason: c.Reason}}, nil
			}
		}
		return nil, nothingToCancel(c)
	}
	byID := make(map[uuid.UUID]*events.Envelope, len(history))
	for i := range history {
		byID[history[i].ID] = &history[i]
	}
	messages := map[string]bool{c.SourceMessageID: true}
	for range len(history) + 1 {
		var out []events.Payload
		for i := range history {
			if e := &history[i]; live(e) && messages[e.Source.MessageID] {
				out = append(out, &events.Correction{Annuls: e.ID, Reason: c.Reason})
			}
		}
		if len(out) > 0 {
			return out, nil
		}
		grew := false
		for i := range history {
			e := &history[i]
			target, ok := e.Annuls()
			if !ok || byID[target] == nil || !messages[byID[target].Source.MessageID] || messages[e.Source.MessageID] {
				continue
			}
			messages[e.Source.MessageID], grew = true, true
		}
		if !grew {
			break
		}
	}
	return nil, nothingToCancel(c)
}

func nothingToCancel(c *events.Cancel) error {
	return &events.MessageError{Code: "nothing-to-cancel", Reason: fmt.Sprintf("no %s to cancel on this pathway", cancelTarget(c))}
}

func cancelTarget(c *events.Cancel) string {
	if c.SourceMessageID != "" {
		return "event from message " + c.SourceMessageID
	}
	return string(c.Type)
}

// isRule reports whether err is the pathway rule named rule.
func isRule(err error, rule string) bool {
	var re *events.RuleError
	return errors.As(err, &re) && re.Rule == rule
}

// isPermanent tells a message that will fail the same way again (bad
// content, a broken rule) from a passing failure (NATS unavailable).
func isPermanent(err error) bool {
	var me *events.MessageError
	var ve *events.ValidationError
	return errors.As(err, &me) || errors.As(err, &ve) || errors.Is(err, events.ErrRule) || errors.Is(err, events.ErrUnknownPathway)
}

// dead records a dead letter and returns the *DeadLetterError the caller
// answers with.
func (in *Intake) dead(ctx context.Context, m RawMessage, err error) error {
	d := DeadLetter{RawSeq: m.Seq, System: m.System, Code: "invalid", Reason: err.Error(), At: time.Now().UTC()}
	var me *events.MessageError
	var ve *events.ValidationError
	var re *events.RuleError
	switch {
	case errors.As(err, &me):
		d.Code, d.Field, d.Reason = me.Code, me.Field, me.Reason
	case errors.As(err, &re):
		d.Code, d.Reason = "rule:"+re.Rule, re.Reason
	case errors.As(err, &ve):
		d.Code, d.Field, d.Reason = "invalid-event", ve.Field, ve.Reason
	case errors.Is(err, events.ErrUnknownPathway):
		d.Code = "unknown-pathway"
	}
	if perr := in.inbox.PutDeadLetter(ctx, d); perr != nil {
		return fmt.Errorf("engine: could not record dead letter (%v) for: %w", perr, err)
	}
	in.logger.Warn("message dead-lettered", "raw_seq", m.Seq, "system", m.System, "code", d.Code, "field", d.Field)
	return &DeadLetterError{DeadLetter: d, Err: err}
}

// Opening is what Intake.Open did.
type Opening struct {
	// Pathway is the pathway opened, or the patient's open one.
	Pathway uuid.UUID
	// History is the open pathway's history when the patient had one;
	// then nothing was appended. Nil when a pathway was opened.
	History []events.Envelope
	// Result is the append's, when a pathway was opened.
	Result Result
}

// Open opens a pathway for the patient cmd's one payload, a
// PathwayOpened, names (its Patient set, its Identity not: id is sealed
// here), or finds the patient's open pathway, which it then returns
// with its history and leaves as it is; if the acting organisation is not
// party to it, with the care relationship rule's refusal too
// (events.RuleNotParty): opening is no way to join. A closed pathway does not count:
// the new one follows it (PathwayOpened.previous). For a caller that
// opens pathways explicitly, such as the JSON API; inbound messages open
// theirs in Receive.
func (in *Intake) Open(ctx context.Context, cmd events.Command, id events.Identity) (Opening, error) {
	opened, ok := onlyOpening(cmd)
	if !ok {
		return Opening{}, &events.ValidationError{Field: "data", Reason: "want one PathwayOpened"}
	}
	var r *Reservation
	for released := false; ; released = true {
		var err error
		if r, err = in.index.Resolve(ctx, opened.Patient, opened.Episode); err != nil || r.New {
			if err != nil {
				return Opening{}, err
			}
			break
		}
		history, err := in.log.Load(ctx, r.Pathway)
		if err != nil {
			return Opening{}, err
		}
		if !released && !r.byEpisode && events.Fold(history).Closed() {
			// Closed before readmissions were linked, or its mark failed:
			// mark it now and reserve again.
			if err := in.index.ReleasePatient(ctx, opened.Patient, r.Pathway); err != nil {
				return Opening{}, err
			}
			continue
		}
		if len(history) > 0 {
			// An opening does not start care: who is not party to the
			// patient's pathway learns of it, and may not join by it.
			op := Opening{Pathway: r.Pathway, History: history}
			return op, events.Fold(history).MayWrite(cmd.Actor.Org, opened)
		}
		break // reserved, but its opening never landed: open it now
	}
	var err error
	o := *opened
	o.Previous = r.Previous
	if o.Identity, err = r.SealIdentity(ctx, id); err != nil {
		return Opening{}, err
	}
	cmd.Pathway, cmd.Payloads = r.Pathway, []events.Payload{&o}
	res, err := in.log.Execute(ctx, cmd)
	return Opening{Pathway: r.Pathway, Result: res}, err
}

func onlyOpening(cmd events.Command) (*events.PathwayOpened, bool) {
	if len(cmd.Payloads) != 1 {
		return nil, false
	}
	o, ok := cmd.Payloads[0].(*events.PathwayOpened)
	return o, ok
}
