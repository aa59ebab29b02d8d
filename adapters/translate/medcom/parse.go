package medcom

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	"github.com/stafet/stafet/events"
)

// MaxSize is the largest input Parse accepts, in bytes. It leaves room for
// CareCommunication attachments, which travel base64-encoded inside the
// message.
const MaxSize = 32 << 20

// Identifier systems and extension names MedCom uses.
const (
	systemSOR     = "urn:oid:1.2.208.176.1.1"
	systemCPR     = "urn:oid:1.2.208.176.1.2"
	systemGLN     = "https://www.gs1.org/gln"
	systemOldEAN  = "urn:oid:1.3.88"
	prefixLPR3    = "https://www.esundhed.dk/Registre/"
	extDestUse    = "medcom-messaging-destinationUseExtension"
	extAdmission  = "reportOfAdmissionExtension"
	extRecipient  = "reportOfAdmissionRecipientExtension"
	extLeave      = "leave-period-extension"
	extDateTime   = "medcom-core-datetime-extension"
	extIdentifier = "medcom-core-identifier-extension"
	extAuthor     = "medcom-core-practitioner-extension"
)

// Parse reads a MedCom FHIR message in JSON or XML, telling the two apart by
// their first character. It returns ErrNotMedCom (wrapped) for input that is
// not a FHIR Bundle, and an *Error for a Bundle that is not a readable MedCom
// message: wrong Bundle.type, no MessageHeader first, a reference that points
// outside the Bundle, a malformed date, and the like.
//
// Parse checks the envelope and what the model needs, not the full MedCom
// profiles: a message it accepts may still deserve a fatal-error
// acknowledgement from a stricter validator.
//
// A message in a VANS envelope is unwrapped first; Message.Envelope then
// describes the envelope.
func Parse(raw []byte) (*Message, error) { return parse(raw, true) }

// ParseUnchecked is Parse without the profile checks: it reads a message
// that breaks a MedCom profile as far as answering it needs (sender,
// receiver, endpoints, MessageHeader.id), so that it can get its
// fatal-error acknowledgement. Parse says what is wrong with it.
func ParseUnchecked(raw []byte) (*Message, error) { return parse(raw, false) }

// parse is Parse; check false leaves out the profile checks (conform), for
// describing a message that breaks them.
func parse(raw []byte, check bool) (*Message, error) {
	body, err := trimmed(raw)
	if err != nil {
		return nil, err
	}
	if len(body) == 0 || body[0] != '<' || !isEnvelope(body) {
		return parseBundle(body, check)
	}
	inner, env, err := unwrap(body)
	if err != nil {
		return nil, err
	}
	if inner, err = trimmed(inner); err != nil {
		return nil, err
	}
	if len(inner) > 0 && inner[0] == '<' && isEnvelope(inner) {
		return nil, &Error{Path: "VANSEnvelope.Message.Data", Reason: "an envelope inside an envelope"}
	}
	m, err := parseBundle(inner, check)
	if err != nil {
		return nil, err
	}
	m.Envelope = env
	return m, nil
}

// trimmed checks the size of the input and drops a UTF-8 byte order mark
// and white space before it.
func trimmed(raw []byte) ([]byte, error) {
	if len(raw) > MaxSize {
		return nil, &Error{Reason: fmt.Sprintf("input is %d bytes; the limit is %d", len(raw), MaxSize)}
	}
	return bytes.TrimLeft(bytes.TrimPrefix(raw, []byte("\xef\xbb\xbf")), " \t\r\n"), nil
}

// parseBundle reads a FHIR Bundle, trimmed.
func parseBundle(body []byte, check bool) (*Message, error) {
	var root *node
	var err error
	switch {
	case len(body) == 0:
		return nil, fmt.Errorf("%w: empty input", ErrNotMedCom)
	case body[0] == '{':
		root, err = jsonTree(body)
	case body[0] == '<':
		root, err = xmlTree(body)
	default:
		return nil, fmt.Errorf("%w: input is neither JSON nor XML", ErrNotMedCom)
	}
	if err != nil {
		return nil, err
	}
	switch root.rtype {
	case "Bundle":
	case "":
		return nil, fmt.Errorf("%w: no resourceType", ErrNotMedCom)
	default:
		return nil, fmt.Errorf("%w: the resource is a %s", ErrNotMedCom, quote(root.rtype))
	}
	b, err := index(root)
	if err != nil {
		return nil, err
	}
	return b.message(check)
}

// entry is one Bundle entry that holds a resource.
type entry struct {
	url  string
	res  *node
	path string // FHIR path of the resource, e.g. "Bundle.entry[2].resource"
}

// bundle indexes the entries for reference resolution.
type bundle struct {
	root    *node
	entries []entry
	byURL   map[string]int // fullUrl -> entry
	byKey   map[string]int // "Type/id" -> first entry with it
	// shared are the fullUrls and "Type/id"s that more than one entry
	// has: a reference to one of them cannot be resolved.
	shared map[string]bool
}

func index(root *node) (*bundle, error) {
	b := &bundle{root: root, byURL: make(map[string]int), byKey: make(map[string]int), shared: make(map[string]bool)}
	for i, e := range root.all("entry") {
		path := fmt.Sprintf("Bundle.entry[%d]", i)
		res := e.child("resource")
		if res == nil {
			return nil, &Error{Path: path + ".resource", Reason: "missing"}
		}
		if res.rtype == "" {
			return nil, &Error{Path: path + ".resource", Reason: "no resourceType"}
		}
		// FHIR's bdl-7 wants every fullUrl unique, but MedCom's own
		// examples repeat one (a Provenance of the message history written
		// twice with one fullUrl, HospitalNotification_Ex_SLHJ_I). A
		// repeated fullUrl harms nothing until a reference names it, so it
		// is an error only then (follow).
		url := e.str("fullUrl")
		if url != "" {
			if _, dup := b.byURL[url]; dup {
				b.shared[url] = true
			} else {
				b.byURL[url] = i
			}
		}
		if id := res.str("id"); id != "" {
			key := res.rtype + "/" + id
			if _, dup := b.byKey[key]; dup {
				b.shared[key] = true
			} else {
				b.byKey[key] = i
			}
		}
		b.entries = append(b.entries, entry{url: url, res: res, path: path + ".resource"})
	}
	return b, nil
}

// resolve finds the entry that the reference ref, written inside entry from,
// points at: by fullUrl, by a relative "Type/id" against the base of the
// referring entry's fullUrl, or by resource type and id.
func (b *bundle) resolve(ref string, from int) (int, bool) {
	if i := strings.Index(ref, "/_history/"); i >= 0 {
		ref = ref[:i]
	}
	if i, ok := b.byURL[ref]; ok {
		return i, true
	}
	if strings.HasPrefix(ref, "#") || strings.Contains(ref, ":") {
		return 0, false // contained, or absolute and not in the Bundle
	}
	if base, ok := restBase(b.entries[from].url); ok {
		if i, ok := b.byURL[base+ref]; ok {
			return i, true
		}
	}
	i, ok := b.byKey[ref]
	return i, ok
}

// ambiguous reports whether the reference ref, resolved to entry i,
// could as well mean another entry: its fullUrl or its "Type/id" is
// shared.
func (b *bundle) ambiguous(ref string, i int) bool {
	e := b.entries[i]
	return b.shared[e.url] || b.shared[e.res.rtype+"/"+e.res.str("id")] && !strings.Contains(ref, "://")
}

// restBase returns "https://host/path/" of a RESTful fullUrl
// "https://host/path/Type/id".
func restBase(url string) (string, bool) {
	i := strings.LastIndexByte(url, '/')
	if i < 0 {
		return "", false
	}
	j := strings.LastIndexByte(url[:i], '/')
	if j < 0 || !strings.Contains(url[:j], "://") {
		return "", false
	}
	return url[:j+1], true
}

// follow resolves the Reference element r, found at path inside entry from,
// to an entry of resource type want (any type if want is empty). It returns
// -1 and no error when r is absent or carries no literal reference.
func (b *bundle) follow(r *node, path string, from int, want string) (int, error) {
	ref := r.str("reference")
	if ref == "" {
		return -1, nil
	}
	i, ok := b.resolve(ref, from)
	if ok && b.ambiguous(ref, i) {
		return -1, &Error{Path: path + ".reference", Reason: quote(ref) + " names more than one entry (a fullUrl or resource id repeated in the Bundle)", Code: CodeInvalid}
	}
	if !ok {
		return -1, &Error{Path: path + ".reference", Reason: quote(ref) + " is not in the Bundle"}
	}
	if got := b.entries[i].res.rtype; want != "" && got != want {
		return -1, &Error{Path: path + ".reference", Reason: fmt.Sprintf("%s is a %s, want %s", quote(ref), quote(got), want)}
	}
	return i, nil
}

// headerID returns the MessageHeader id a Provenance reference points at.
// The MessageHeaders of earlier messages are not in the Bundle, so the id
// comes from the reference itself when it does not resolve.
func (b *bundle) headerID(r *node, from int) string {
	ref := r.str("reference")
	if ref == "" {
		return r.at("identifier").str("value")
	}
	if i, ok := b.resolve(ref, from); ok {
		if res := b.entries[i].res; res.rtype == "MessageHeader" {
			return res.str("id")
		}
		return ""
	}
	if i := strings.Index(ref, "/_history/"); i >= 0 {
		ref = ref[:i]
	}
	if id, ok := strings.CutPrefix(ref, "urn:uuid:"); ok {
		return id
	}
	i := strings.LastIndexByte(ref, '/')
	if i < 0 {
		return ""
	}
	if j := strings.LastIndexByte(ref[:i], '/'); ref[j+1:i] != "MessageHeader" {
		return ""
	}
	return ref[i+1:]
}

func (b *bundle) message(check bool) (*Message, error) {
	r := b.root
	switch t := r.str("type"); t {
	case "message":
	case "":
		return nil, &Error{Path: "Bundle.type", Reason: "missing; want message"}
	default:
		return nil, &Error{Path: "Bundle.type", Reason: "want message, got " + quote(t)}
	}
	m := &Message{BundleID: r.str("id"), patientAt: -1, commAt: -1}
	if err := checkID(m.BundleID, "Bundle.id"); err != nil {
		return nil, err
	}
	ts, err := required(r.child("timestamp"), "Bundle.timestamp")
	if err != nil {
		return nil, err
	}
	m.Timestamp = ts
	if len(b.entries) == 0 {
		return nil, &Error{Path: "Bundle.entry", Reason: "empty; a message starts with its MessageHeader"}
	}
	h, hp := b.entries[0].res, b.entries[0].path
	if h.rtype != "MessageHeader" {
		return nil, &Error{Path: hp, Reason: fmt.Sprintf("want MessageHeader, got %s", quote(h.rtype))}
	}
	m.HeaderID = h.str("id")
	if err := checkID(m.HeaderID, hp+".id"); err != nil {
		return nil, err
	}
	m.eventPath = hp + ".eventCoding"
	code := h.at("eventCoding").str("code")
	if code == "" {
		return nil, &Error{Path: m.eventPath, Reason: "missing; MedCom names the message type in eventCoding"}
	}
	m.Kind = Kind(code)

	si, err := b.follow(h.child("sender"), hp+".sender", 0, "Organization")
	if err != nil {
		return nil, err
	}
	if si < 0 {
		return nil, &Error{Path: hp + ".sender", Reason: "missing"}
	}
	m.Sender = organization(b.entries[si].res)
	m.SourceEndpoint = h.at("source").str("endpoint")
	if err := b.destinations(m, h, hp); err != nil {
		return nil, err
	}
	if err := b.content(m, h, hp); err != nil {
		return nil, err
	}
	if err := b.complete(m, hp); err != nil {
		return nil, err
	}
	switch m.Kind {
	case KindHospitalNotification, KindCareCommunication, KindAcknowledgement:
		// A message of a kind Stafet does not read is answered for its
		// kind, not for its content.
		if !check {
			break
		}
		if err := b.conform(m); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// content reads what the message is about: the focus of the MessageHeader h
// (at path hp) and what it refers to, the history and the response.
func (b *bundle) content(m *Message, h *node, hp string) error {
	var err error
	focus := -1
	for j, f := range h.all("focus") {
		i, err := b.follow(f, fmt.Sprintf("%s.focus[%d]", hp, j), 0, "")
		if err != nil {
			return err
		}
		if focus < 0 {
			focus = i
		}
	}
	ci := b.pick(focus, "Communication")
	ei := -1
	if focus >= 0 && b.entries[focus].res.rtype == "Encounter" {
		ei = focus
	}
	if ci >= 0 {
		c := b.entries[ci]
		if ei < 0 {
			if ei, err = b.follow(c.res.child("encounter"), c.path+".encounter", ci, "Encounter"); err != nil {
				return err
			}
		}
		if m.Communication, err = b.communication(ci); err != nil {
			return err
		}
		m.commAt = ci
	}
	ei = b.pick(ei, "Encounter")
	pi := -1
	if ei >= 0 {
		e := b.entries[ei]
		if pi, err = b.follow(e.res.child("subject"), e.path+".subject", ei, "Patient"); err != nil {
			return err
		}
		if m.Encounter, err = b.encounter(ei); err != nil {
			return err
		}
		m.classPath, m.statusPath = e.path+".class", e.path+".status"
	}
	if pi < 0 && ci >= 0 {
		c := b.entries[ci]
		if pi, err = b.follow(c.res.child("subject"), c.path+".subject", ci, "Patient"); err != nil {
			return err
		}
	}
	pi = b.pick(pi, "Patient")
	if pi >= 0 {
		if m.Patient, err = patient(b.entries[pi]); err != nil {
			return err
		}
		m.patientAt = pi
	}
	if m.Encounter != nil {
		// MedCom puts the flags on the MessageHeader; the model keeps them
		// with the Encounter, and reads them from either.
		if err := b.admissionReport(m.Encounter, h, hp, 0); err != nil {
			return err
		}
		if err := b.admissionReport(m.Encounter, b.entries[ei].res, b.entries[ei].path, ei); err != nil {
			return err
		}
	}
	for i, e := range b.entries {
		if e.res.rtype != "Provenance" {
			continue
		}
		p, err := b.provenance(i)
		if err != nil {
			return err
		}
		m.Provenances = append(m.Provenances, p)
	}
	if resp := h.child("response"); resp != nil {
		if m.Acknowledgement, err = b.acknowledgement(resp, hp+".response"); err != nil {
			return err
		}
	}
	return nil
}

// complete checks that the parts a kind of message depends on are there.
func (b *bundle) complete(m *Message, hp string) error {
	switch m.Kind {
	case KindHospitalNotification:
		if m.Encounter == nil {
			return &Error{Path: hp + ".focus", Reason: "a hospital-notification-message needs an Encounter"}
		}
		if m.Patient == nil {
			return &Error{Path: "Bundle.entry", Reason: "a hospital-notification-message needs a Patient"}
		}
	case KindCareCommunication:
		if m.Communication == nil {
			return &Error{Path: hp + ".focus", Reason: "a care-communication-message needs a Communication"}
		}
		if m.Patient == nil {
			return &Error{Path: "Bundle.entry", Reason: "a care-communication-message needs a Patient"}
		}
	case KindAcknowledgement:
		a := m.Acknowledgement
		if a == nil {
			return &Error{Path: hp + ".response", Reason: "an acknowledgement-message needs a response"}
		}
		if a.ResponseTo == "" {
			return &Error{Path: hp + ".response.identifier", Reason: "missing"}
		}
		if !validResponse(a.Code) {
			return &Error{Path: hp + ".response.code", Reason: fmt.Sprintf("want ok, transient-error or fatal-error, got %s", quote(a.Code))}
		}
	}
	return nil
}

func validResponse(code string) bool {
	return code == "ok" || code == "transient-error" || code == "fatal-error"
}

// pick returns i if it is an entry, else the first entry of resource type typ,
// else -1.
func (b *bundle) pick(i int, typ string) int {
	if i >= 0 && b.entries[i].res.rtype == typ {
		return i
	}
	for j, e := range b.entries {
		if e.res.rtype == typ {
			return j
		}
	}
	return -1
}

func (b *bundle) destinations(m *Message, h *node, hp string) error {
	primary := false
	for i, d := range h.all("destination") {
		dp := fmt.Sprintf("%s.destination[%d]", hp, i)
		use := ""
		for _, ext := range d.all("extension") {
			if strings.HasSuffix(ext.str("url"), "/"+extDestUse) {
				use = ext.at("valueCoding").str("code")
			}
		}
		ri, err := b.follow(d.child("receiver"), dp+".receiver", 0, "Organization")
		if err != nil {
			return err
		}
		if ri < 0 {
			return &Error{Path: dp + ".receiver", Reason: "missing"}
		}
		dest := Destination{Organization: organization(b.entries[ri].res), Endpoint: d.str("endpoint")}
		switch use {
		case "cc", "carbon-copy":
			m.CC = append(m.CC, dest)
		case "primary", "":
			if primary {
				return &Error{Path: dp, Reason: "a second primary receiver"}
			}
			primary = true
			m.Receiver = dest
		default:
			return &Error{Path: dp + ".extension", Reason: "unknown destination use " + quote(use)}
		}
	}
	if !primary {
		return &Error{Path: hp + ".destination", Reason: "no primary receiver"}
	}
	return nil
}

func organization(res *node) Organization {
	o := Organization{ID: res.str("id"), Name: res.str("name")}
	for _, id := range res.all("identifier") {
		v := id.str("value")
		switch id.str("system") {
		case systemSOR:
			if o.SOR == "" {
				o.SOR = v
			}
		case systemGLN, systemOldEAN:
			if o.EAN == "" {
				o.EAN = v
			}
		}
	}
	return o
}

func patient(e entry) (*Patient, error) {
	res := e.res
	p := &Patient{ID: res.str("id")}
	for _, id := range res.all("identifier") {
		ident := Identifier{System: id.str("system"), Value: id.str("value")}
		p.Identifiers = append(p.Identifiers, ident)
		switch {
		case ident.System == systemCPR && p.CPR == "":
			p.CPR = ident.Value
		case events.IsReplacementIssuer(ident.System) && strings.HasPrefix(ident.System, "urn:oid:"):
			national := strings.TrimPrefix(ident.System, "urn:oid:") == events.ReplacementNational
			if p.Replacement == (Identifier{}) || national && strings.TrimPrefix(p.Replacement.System, "urn:oid:") != events.ReplacementNational {
				p.Replacement = ident
			}
		}
	}
	names := res.all("name")
	for _, n := range names {
		if n.str("use") == "official" {
			names = []*node{n}
			break
		}
	}
	if len(names) > 0 {
		p.Family = names[0].str("family")
		p.Given = givenNames(names[0])
	}
	if d := res.child("deceasedBoolean"); d != nil && d.has {
		switch d.value {
		case "true":
			p.Deceased = true
		case "false":
		default:
			return nil, &Error{Path: e.path + ".deceasedBoolean", Reason: "want true or false, got " + quote(d.value)}
		}
	}
	if d := res.child("deceasedDateTime"); d != nil && d.has {
		t, err := optional(d, e.path+".deceasedDateTime")
		if err != nil {
			return nil, err
		}
		p.Deceased, p.DeceasedAt = true, t
	}
	return p, nil
}

func givenNames(name *node) []string {
	var out []string
	for _, g := range name.all("given") {
		if g.value != "" {
			out = append(out, g.value)
		}
	}
	return out
}

func personName(res *node) string {
	n := res.child("name")
	parts := givenNames(n)
	if f := n.str("family"); f != "" {
		parts = append(parts, f)
	}
	return strings.Join(parts, " ")
}

func (b *bundle) encounter(i int) (*Encounter, error) {
	res, path := b.entries[i].res, b.entries[i].path
	e := &Encounter{ID: res.str("id"), Class: res.at("class").str("code"), Status: res.str("status")}
	for _, eoc := range res.all("episodeOfCare") {
		if id := eoc.child("identifier"); id != nil {
			e.EpisodeOfCare = append(e.EpisodeOfCare, Identifier{System: id.str("system"), Value: id.str("value")})
		}
	}
	for _, id := range e.EpisodeOfCare {
		if strings.HasPrefix(id.System, prefixLPR3) {
			e.StayID = id
			break
		}
	}
	if e.StayID == (Identifier{}) && len(e.EpisodeOfCare) > 0 {
		e.StayID = e.EpisodeOfCare[0]
	}
	var err error
	if e.Period, err = period(res.child("period"), path+".period"); err != nil {
		return nil, err
	}
	si, err := b.follow(res.child("serviceProvider"), path+".serviceProvider", i, "Organization")
	if err != nil {
		return nil, err
	}
	if si >= 0 {
		o := organization(b.entries[si].res)
		e.ServiceProvider = &o
	}
	for k, ext := range res.all("extension") {
		if strings.HasSuffix(ext.str("url"), extLeave) {
			p, err := period(ext.child("valuePeriod"), fmt.Sprintf("%s.extension[%d].valuePeriod", path, k))
			if err != nil {
				return nil, err
			}
			e.Leave = &p
		}
	}
	return e, nil
}

// admissionReport reads the reportOfAdmission extensions of res (the
// MessageHeader or the Encounter) into e.
func (b *bundle) admissionReport(e *Encounter, res *node, path string, from int) error {
	for k, ext := range res.all("extension") {
		ep := fmt.Sprintf("%s.extension[%d]", path, k)
		switch url := ext.str("url"); {
		case strings.HasSuffix(url, extAdmission):
			switch v := ext.child("valueBoolean"); {
			case v != nil && v.value == "true":
				e.ReportOfAdmission = true
			case v != nil && v.value == "false":
			default:
				return &Error{Path: ep + ".valueBoolean", Reason: "want true or false"}
			}
		case strings.HasSuffix(url, extRecipient):
			i, err := b.follow(ext.child("valueReference"), ep+".valueReference", from, "Organization")
			if err != nil {
				return err
			}
			if i >= 0 {
				o := organization(b.entries[i].res)
				e.ReportOfAdmissionRecipient = &o
			}
		}
	}
	return nil
}

func (b *bundle) provenance(i int) (Provenance, error) {
	res, path := b.entries[i].res, b.entries[i].path
	p := Provenance{ID: res.str("id"), Activity: res.at("activity", "coding").str("code"), path: path}
	var err error
	if p.Occurred, err = optional(res.child("occurredDateTime"), path+".occurredDateTime"); err != nil {
		return p, err
	}
	if p.Recorded, err = optional(res.child("recorded"), path+".recorded"); err != nil {
		return p, err
	}
	p.Target = b.headerID(res.child("target"), i)
	for _, ent := range res.all("entity") {
		switch role := ent.str("role"); role {
		case "revision", "removal":
			if p.Role == "" {
				p.Role, p.Previous = role, b.headerID(ent.child("what"), i)
			}
		case "source":
			if v := ent.at("what", "identifier").str("value"); v != "" {
				p.Sources = append(p.Sources, v)
			}
		}
	}
	return p, nil
}

func (b *bundle) communication(i int) (*Communication, error) {
	res, path := b.entries[i].res, b.entries[i].path
	c := &Communication{
		ID:         res.str("id"),
		Identifier: res.at("identifier").str("value"),
		Category:   res.at("category", "coding").str("code"),
		Topic:      res.at("topic").str("text"),
		Priority:   res.str("priority"),
	}
	for j, pl := range res.all("payload") {
		pp := fmt.Sprintf("%s.payload[%d]", path, j)
		p := Payload{Text: pl.str("contentString")}
		if a := pl.child("contentAttachment"); a != nil {
			p.Attachment = &Attachment{ContentType: a.str("contentType"), Title: a.str("title"), URL: a.str("url")}
		}
		for k, ext := range pl.all("extension") {
			ep := fmt.Sprintf("%s.extension[%d]", pp, k)
			var err error
			switch url := ext.str("url"); {
			case strings.HasSuffix(url, "/"+extDateTime):
				p.Time, err = optional(ext.child("valueDateTime"), ep+".valueDateTime")
			case strings.HasSuffix(url, "/"+extIdentifier):
				v := ext.child("valueIdentifier")
				p.Identifier = v.str("value")
				var oi int
				oi, err = b.follow(v.child("assigner"), ep+".valueIdentifier.assigner", i, "Organization")
				if oi >= 0 {
					o := organization(b.entries[oi].res)
					p.Organization = &o
				}
			case strings.HasSuffix(url, "/"+extAuthor):
				var ai int
				ai, err = b.follow(ext.child("valueReference"), ep+".valueReference", i, "")
				if ai >= 0 {
					p.Author, err = b.author(ai, ep+".valueReference")
				}
			}
			if err != nil {
				return nil, err
			}
		}
		c.Payloads = append(c.Payloads, p)
	}
	return c, nil
}

func (b *bundle) author(i int, path string) (*Author, error) {
	res := b.entries[i].res
	switch res.rtype {
	case "PractitionerRole":
		a := &Author{Role: res.at("code", "coding").str("code")}
		pi, err := b.follow(res.child("practitioner"), b.entries[i].path+".practitioner", i, "Practitioner")
		if err != nil {
			return nil, err
		}
		if pi >= 0 {
			a.Name = personName(b.entries[pi].res)
		}
		return a, nil
	case "Practitioner":
		return &Author{Name: personName(res)}, nil
	}
	return nil, &Error{Path: path + ".reference", Reason: fmt.Sprintf("points at a %s, want PractitionerRole or Practitioner", quote(res.rtype))}
}

func (b *bundle) acknowledgement(resp *node, path string) (*Acknowledgement, error) {
	a := &Acknowledgement{ResponseTo: resp.str("identifier"), Code: resp.str("code")}
	oi, err := b.follow(resp.child("details"), path+".details", 0, "OperationOutcome")
	if err != nil {
		return nil, err
	}
	outcomes := []int{oi}
	if oi < 0 {
		outcomes = nil
		for i, e := range b.entries {
			if e.res.rtype == "OperationOutcome" {
				outcomes = append(outcomes, i)
			}
		}
	}
	for _, i := range outcomes {
		for _, is := range b.entries[i].res.all("issue") {
			text := is.at("details").str("text")
			if text == "" {
				text = is.str("diagnostics")
			}
			a.Issues = append(a.Issues, Issue{
				Severity: is.str("severity"),
				Code:     is.str("code"),
				Detail:   is.at("details", "coding").str("code"),
				Text:     text,
			})
		}
	}
	return a, nil
}

func period(n *node, path string) (Period, error) {
	var p Period
	var err error
	if p.Start, err = optional(n.child("start"), path+".start"); err != nil {
		return p, err
	}
	p.End, err = optional(n.child("end"), path+".end")
	return p, err
}

// optional reads a FHIR date, dateTime or instant; an absent one is the zero
// time. Dates without a time of day are taken as midnight UTC.
func optional(n *node, path string) (time.Time, error) {
	if n == nil || !n.has {
		return time.Time{}, nil
	}
	layout := time.RFC3339
	switch len(n.value) {
	case 4:
		layout = "2006"
	case 7:
		layout = "2006-01"
	case 10:
		layout = time.DateOnly
	}
	t, err := time.Parse(layout, n.value)
	if err != nil {
		return time.Time{}, &Error{Path: path, Reason: quote(n.value) + " is not a FHIR dateTime"}
	}
	return t, nil
}

func required(n *node, path string) (time.Time, error) {
	if n == nil || !n.has {
		return time.Time{}, &Error{Path: path, Reason: "missing"}
	}
	return optional(n, path)
}

// checkID enforces the FHIR id syntax, [A-Za-z0-9\-\.]{1,64}, on the ids
// that receivers de-duplicate on.
func checkID(id, path string) error {
	if id == "" {
		return &Error{Path: path, Reason: "missing"}
	}
	if len(id) > 64 {
		return &Error{Path: path, Reason: "longer than 64 characters"}
	}
	for _, c := range id {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.') {
			return &Error{Path: path, Reason: quote(id) + " is not a FHIR id"}
		}
	}
	return nil
}

// quote prepares a value taken from the input for an error message: cut
// short, and quoted unless it is a plain token such as a code or an id.
func quote(s string) string {
	const max = 64
	if len(s) > max {
		return fmt.Sprintf("%q…", s[:max])
	}
	for _, c := range s {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.ContainsRune("-._:/#", c)) {
			return fmt.Sprintf("%q", s)
		}
	}
	if s == "" {
		return `""`
	}
	return s
}
