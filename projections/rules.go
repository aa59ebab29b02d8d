package projections

import (
	"cmp"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // business hours and day boundaries need Europe/Copenhagen on any host
)

// Severity says how urgent a gap is.
type Severity string

// Severities, least urgent first.
const (
	Info     Severity = "info"
	Warning  Severity = "warning"
	Critical Severity = "critical"
)

func (s Severity) rank() int {
	switch s {
	case Critical:
		return 2
	case Warning:
		return 1
	}
	return 0
}

// Clock says how a rule's time is counted.
type Clock string

// Clocks. A business-hours clock counts only the configured working hours
// (rule 11); the default counts every hour.
const (
	CalendarClock Clock = "calendar"
	BusinessClock Clock = "business-hours"
)

// The rule ids. They name the rule in Gap.Rule, Deadline.Rule and
// DeadlineElapsed.Rule, and key the "rules" object of the rules file. The
// numbers are the rows of the "Default deadline rules" table in the
// project's domain notes; rules without a number are Stafet's own.
const (
	RuleAcknowledgement        = "acknowledgement"          // 1
	RuleAdmissionReport        = "admission-report"         // 2
	RuleCareProcessPlan        = "care-process-plan"        // 4
	RuleReadyForDischarge      = "ready-for-discharge"      // 5
	RuleMunicipalAcceptance    = "municipal-acceptance"     // 6
	RuleNoOwner                = "no-owner"                 // 6
	RuleDischargedBeforeAccept = "discharged-before-accept" // 6
	RuleRehabilitationStart    = "rehabilitation-start"     // 7
	RuleDischargeLetter        = "discharge-letter"         // 8
	RuleLeave                  = "leave"                    // 9
	RuleOfferAnswer            = "offer-answer"
	RuleReoffer                = "reoffer"
	RuleRequestedDocument      = "requested-document"
)

// The handoff policy names (policies.go). They key the "policies" object of
// the rules file, name the policy in HandoffOffered.Policy and prefix the
// offers and source message ids the policies make.
const (
	PolicyAdmissionNotified  = "admission-notified"
	PolicyDischargeServices  = "discharge-services"
	PolicyRehabilitationPlan = "rehabilitation-plan"
	PolicyDischargeLetter    = "discharge-letter"
)

// ruleID indexes the compiled rules.
type ruleID uint8

const (
	rAck ruleID = iota
	rAdmissionReport
	rCareProcessPlan
	rReady
	rMunicipalAcceptance
	rNoOwner
	rDischargedBeforeAccept
	rRehabilitationStart
	rDischargeLetter
	rLeave
	rOfferAnswer
	rReoffer
	rRequestedDocument
	nRules
)

var ruleNames = [nRules]string{
	RuleAcknowledgement, RuleAdmissionReport, RuleCareProcessPlan, RuleReadyForDischarge,
	RuleMunicipalAcceptance, RuleNoOwner, RuleDischargedBeforeAccept, RuleRehabilitationStart,
	RuleDischargeLetter, RuleLeave, RuleOfferAnswer, RuleReoffer, RuleRequestedDocument,
}

func ruleByName(name string) (ruleID, bool) {
	for i, n := range ruleNames {
		if n == name {
			return ruleID(i), true
		}
	}
	return 0, false
}

type policyID uint8

const (
	pAdmissionNotified policyID = iota
	pDischargeServices
	pRehabilitationPlan
	pDischargeLetter
	nPolicies
)

var policyNames = [nPolicies]string{PolicyAdmissionNotified, PolicyDischargeServices, PolicyRehabilitationPlan, PolicyDischargeLetter}

func policyByName(name string) (policyID, bool) {
	for i, n := range policyNames {
		if n == name {
			return policyID(i), true
		}
	}
	return 0, false
}

// Duration is a time.Duration that reads and writes JSON as text: Go's
// units ("90m", "4h") plus days ("7d").
type Duration time.Duration

// ParseDuration reads "7d", "72h", "90m", "1d12h" and the like.
func ParseDuration(s string) (Duration, error) {
	rest := s
	var days int64
	if i := strings.IndexByte(rest, 'd'); i >= 0 {
		n, err := strconv.ParseInt(rest[:i], 10, 32)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("want a duration like \"72h\", \"90m\" or \"7d\", got %q", s)
		}
		days, rest = n, rest[i+1:]
	}
	var d time.Duration
	if rest != "" {
		var err error
		if d, err = time.ParseDuration(rest); err != nil || d < 0 {
			return 0, fmt.Errorf("want a duration like \"72h\", \"90m\" or \"7d\", got %q", s)
		}
	}
	if s == "" {
		return 0, fmt.Errorf("want a duration like \"72h\", \"90m\" or \"7d\", got \"\"")
	}
	return Duration(time.Duration(days)*24*time.Hour + d), nil
}

// String writes the duration in the largest whole unit, days from two
// days on: "7d", "24h", "4h", "90m".
func (d Duration) String() string {
	td := time.Duration(d)
	switch {
	case td == 0:
		return "0s"
	case td%(24*time.Hour) == 0 && td >= 48*time.Hour:
		return strconv.FormatInt(int64(td/(24*time.Hour)), 10) + "d"
	case td%time.Hour == 0:
		return strconv.FormatInt(int64(td/time.Hour), 10) + "h"
	case td%time.Minute == 0:
		return strconv.FormatInt(int64(td/time.Minute), 10) + "m"
	}
	return td.String()
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// Rule is one deadline rule: how long after its trigger the deadline
// falls, on which clock, and how severe a gap from it is. Number, Verified,
// Source and Means document the rule for operators and are not used.
type Rule struct {
	// After is the time from the trigger to the deadline; zero means the
	// default. What the trigger is depends on the rule (docs/projections.md).
	After Duration `json:"after,omitzero"`
	// Clock is CalendarClock (the default) or BusinessClock.
	Clock Clock `json:"clock,omitempty"`
	// Severity of the gaps the rule opens; "" means the default.
	Severity Severity `json:"severity,omitempty"`
	// Off switches the rule off: it opens no gaps and sets no deadlines.
	Off bool `json:"off,omitempty"`

	// Changes are later versions of the rule, each from a date: a deadline
	// triggered on or after From (a date in the rules' time zone) takes
	// that version's After and Clock. So the deadlines of a new health
	// agreement can be set ahead of the day it takes effect (2027-01-01,
	// docs/reform-2027.md) and a replay still gives every earlier
	// deadline its own rule.
	Changes []RuleChange `json:"changes,omitempty"`

	Number   int    `json:"number,omitempty"`
	Verified bool   `json:"verified"`
	Source   string `json:"source,omitempty"`
	Means    string `json:"means,omitempty"`
}

// RuleChange is a rule's version from a date on.
type RuleChange struct {
	From  string   `json:"from"` // YYYY-MM-DD
	After Duration `json:"after,omitzero"`
	Clock Clock    `json:"clock,omitempty"`
}

// Policy configures one handoff policy.
type Policy struct {
	// Off switches the policy off.
	Off bool `json:"off,omitempty"`
	// Rule names the deadline rule whose After sets the offer's deadline
	// and whose severity an overdue offer gets; "" means the default.
	Rule  string `json:"rule,omitempty"`
	Means string `json:"means,omitempty"`
}

// BusinessHours is the working day of a business-hours clock (rule 11), in
// Rules.TimeZone. Public holidays are not known; only weekdays count.
type BusinessHours struct {
	Start string   `json:"start,omitempty"` // "08:00"
	End   string   `json:"end,omitempty"`   // "15:00"
	Days  []string `json:"days,omitempty"`  // "mon", "tue", …
}

// Rules are the deadlines, severities and policies the projections apply.
// The zero value means the defaults (DefaultRules); a Rules with some rules
// or fields left out takes the defaults for them. Read an operator's file
// with LoadRules.
type Rules struct {
	// TimeZone is the IANA zone of business hours and of the days that
	// figures count by; "" means Europe/Copenhagen.
	TimeZone      string            `json:"time_zone,omitempty"`
	BusinessHours BusinessHours     `json:"business_hours,omitzero"`
	Deadlines     map[string]Rule   `json:"rules,omitempty"`
	Policies      map[string]Policy `json:"policies,omitempty"`
}

//go:embed rules.default.json
var defaultRulesJSON []byte

// DefaultRulesJSON returns the default rules file, rules.default.json, for
// operators to copy and edit. It holds what DefaultRules returns.
func DefaultRulesJSON() []byte { return slices.Clone(defaultRulesJSON) }

// DefaultRules returns the default rules with their sources. Rules marked
// Verified: false are sensible defaults that no primary source confirmed.
func DefaultRules() Rules {
	return Rules{
		TimeZone:      "Europe/Copenhagen",
		BusinessHours: BusinessHours{Start: "08:00", End: "15:00", Days: []string{"mon", "tue", "wed", "thu", "fri"}},
		Deadlines: map[string]Rule{
			RuleAcknowledgement: {
				After: Duration(90 * time.Minute), Severity: Warning, Number: 1, Verified: true,
				Source: "MedCom reliable messaging: resend after 30 min without acknowledgement, at most twice",
				Means:  "a document sent and not acknowledged within 30 min and two resends (3 × 30 min) is overdue",
			},
			RuleAdmissionReport: {
				After: Duration(24 * time.Hour), Severity: Warning, Number: 2, Verified: true,
				Source: "Region Midtjylland's cross-sector agreement (sundhedsaftale)",
				Means:  "an admission with reportOfAdmissionFlag: the municipality sends the admission report within this time",
			},
			RuleCareProcessPlan: {
				After: Duration(24 * time.Hour), Severity: Warning, Number: 4, Verified: true,
				Source: "Region Midtjylland's cross-sector agreement (sundhedsaftale); simple form: the 12:00 rule for same-day discharges is not applied",
				Means:  "a stay longer than this, discharged to municipal services, needs a care-process plan sent by discharge",
			},
			RuleReadyForDischarge: {
				Severity: Warning, Number: 5, Verified: true,
				Source: "Sundhedsloven §238; BEK om betalinger for færdigbehandlede patienter (payment per bed-day); counting a started day as a day is Stafet's reading",
				Means:  "ready for discharge and still in hospital is a gap from the first day; after is the grace before it escalates",
			},
			RuleMunicipalAcceptance: {
				After: Duration(4 * time.Hour), Severity: Critical, Number: 6, Verified: false,
				Source: "health agreements (sundhedsaftaler); 4 h not confirmed in a primary source",
				Means:  "an offer of municipal services at discharge is answered within this time",
			},
			RuleNoOwner: {
				After: Duration(4 * time.Hour), Severity: Critical, Number: 6, Verified: false,
				Source: "rule 6; health agreements (sundhedsaftaler)",
				Means:  "discharged to municipal services with nobody holding them: the gap opens at discharge and escalates after this time",
			},
			RuleDischargedBeforeAccept: {
				After: Duration(4 * time.Hour), Severity: Critical, Number: 6, Verified: false,
				Source: "rule 6; health agreements (sundhedsaftaler)",
				Means:  "discharged while an offer was pending: the gap opens at discharge and escalates after this time",
			},
			RuleRehabilitationStart: {
				After: Duration(7 * 24 * time.Hour), Severity: Warning, Number: 7, Verified: true,
				Source: "Sundhedsloven §140 stk. 4; BEK om genoptræningsplaner §3",
				Means:  "rehabilitation starts within this time after discharge, or by the plan's own deadline",
			},
			RuleDischargeLetter: {
				After: Duration(3 * 24 * time.Hour), Severity: Warning, Number: 8, Verified: false,
				Source: "Vejledning om epikriser nr. 10036 af 30/11/2018; hospitals tell patients the letter is readable about 3 days after discharge, no send deadline found",
				Means:  "the discharge letter (epikrise) is sent to the GP within this time after discharge",
			},
			RuleLeave: {
				Number: 9, Verified: true,
				Source: "MedCom HospitalNotification: during leave the hospital stays responsible",
				Means:  "during leave no municipal gap opens: municipal deadlines pause and ready-for-discharge days stop",
			},
			RuleOfferAnswer: {
				After: Duration(24 * time.Hour), Severity: Warning, Verified: false,
				Source: "Stafet default",
				Means:  "an offer sent without a deadline is answered within this time",
			},
			RuleReoffer: {
				After: Duration(4 * time.Hour), Severity: Critical, Verified: false,
				Source: "Stafet default",
				Means:  "after a rejection the sender offers the responsibility again (to anyone) within this time",
			},
			RuleRequestedDocument: {
				After: Duration(24 * time.Hour), Severity: Warning, Verified: false,
				Source: "Stafet default",
				Means:  "a requested document without its own deadline is sent within this time",
			},
		},
		Policies: map[string]Policy{
			PolicyAdmissionNotified: {
				Rule:  RuleOfferAnswer,
				Means: "an admission notified to a municipality offers it discharge planning",
			},
			PolicyDischargeServices: {
				Rule:  RuleMunicipalAcceptance,
				Means: "a discharge to municipal services, a nursing home or a municipal bed offers that care to the receiving municipality",
			},
			PolicyRehabilitationPlan: {
				Rule:  RuleRehabilitationStart,
				Means: "a rehabilitation plan offers rehabilitation to the municipality, by the plan's deadline or the rule's",
			},
			PolicyDischargeLetter: {
				Rule:  RuleOfferAnswer,
				Means: "a discharge letter offers follow-up to the patient's GP",
			},
		},
	}
}

// ErrRules matches every error about a rules file or a Rules value.
var ErrRules = errors.New("projections: bad rules")

// RulesError names the field of a rules file that is wrong.
type RulesError struct {
	Field  string
	Reason string
}

// Error implements error.
func (e *RulesError) Error() string {
	return fmt.Sprintf("projections: rules: %s: %s", e.Field, e.Reason)
}

// Is makes errors.Is(err, ErrRules) true.
func (e *RulesError) Is(target error) bool { return target == ErrRules }

// LoadRules reads a rules file (JSON, the form of rules.default.json). What
// the file leaves out keeps its default, so a file may hold only the rules
// it changes. Unknown rules, policies and fields are errors, so a typing
// error is not silently ignored; every error is a *RulesError naming its
// field, e.g. "rules.no-owner.after".
func LoadRules(r io.Reader) (Rules, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return Rules{}, fmt.Errorf("projections: rules: %w", err)
	}
	out := DefaultRules()
	var rules, policies map[string]json.RawMessage
	var hours json.RawMessage
	err = decodeObject(b, "", map[string]any{
		"time_zone": &out.TimeZone, "business_hours": &hours, "rules": &rules, "policies": &policies,
	})
	if err != nil {
		return Rules{}, err
	}
	if hours != nil {
		bh := &out.BusinessHours
		if err := decodeObject(hours, "business_hours", map[string]any{"start": &bh.Start, "end": &bh.End, "days": &bh.Days}); err != nil {
			return Rules{}, err
		}
	}
	for _, name := range slices.Sorted(maps.Keys(rules)) {
		d, ok := out.Deadlines[name]
		if !ok {
			return Rules{}, &RulesError{Field: "rules." + name, Reason: "unknown rule (known: " + strings.Join(ruleNames[:], ", ") + ")"}
		}
		var changes []json.RawMessage
		err := decodeObject(rules[name], "rules."+name, map[string]any{
			"after": &d.After, "clock": &d.Clock, "severity": &d.Severity, "off": &d.Off, "changes": &changes,
			"number": &d.Number, "verified": &d.Verified, "source": &d.Source, "means": &d.Means,
		})
		for i, raw := range changes {
			var c RuleChange
			if err == nil {
				err = decodeObject(raw, fmt.Sprintf("rules.%s.changes[%d]", name, i), map[string]any{"from": &c.From, "after": &c.After, "clock": &c.Clock})
			}
			d.Changes = append(d.Changes, c)
		}
		if err != nil {
			return Rules{}, err
		}
		if d.After == 0 && out.Deadlines[name].After != 0 {
			return Rules{}, &RulesError{Field: "rules." + name + ".after", Reason: "must be more than zero (zero means the default); use \"off\": true to switch the rule off"}
		}
		out.Deadlines[name] = d
	}
	for _, name := range slices.Sorted(maps.Keys(policies)) {
		p, ok := out.Policies[name]
		if !ok {
			return Rules{}, &RulesError{Field: "policies." + name, Reason: "unknown policy (known: " + strings.Join(policyNames[:], ", ") + ")"}
		}
		if err := decodeObject(policies[name], "policies."+name, map[string]any{"off": &p.Off, "rule": &p.Rule, "means": &p.Means}); err != nil {
			return Rules{}, err
		}
		out.Policies[name] = p
	}
	if err := out.Validate(); err != nil {
		return Rules{}, err
	}
	return out, nil
}

// decodeObject decodes a JSON object field by field into fields, so that
// every error names the field's whole path; a field the object leaves out
// keeps its value.
func decodeObject(b []byte, path string, fields map[string]any) error {
	here := cmp.Or(path, "(file)")
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(b, &obj); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return &RulesError{Field: here, Reason: "want an object, got JSON " + te.Value}
		}
		return &RulesError{Field: here, Reason: strings.TrimPrefix(err.Error(), "json: ")}
	}
	if obj == nil {
		return &RulesError{Field: here, Reason: "want an object, got null"}
	}
	for _, k := range slices.Sorted(maps.Keys(obj)) {
		field := k
		if path != "" {
			field = path + "." + k
		}
		dst, ok := fields[k]
		if !ok {
			return &RulesError{Field: field, Reason: "unknown field"}
		}
		if err := json.Unmarshal(obj[k], dst); err != nil {
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) {
				return &RulesError{Field: field, Reason: fmt.Sprintf("want %s, got JSON %s", jsonKind(te.Type), te.Value)}
			}
			return &RulesError{Field: field, Reason: strings.TrimPrefix(err.Error(), "json: ")}
		}
	}
	return nil
}

// jsonKind names a Go type as the author of a rules file thinks of it.
func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == reflect.TypeFor[Duration]():
		return `a duration like "72h", "90m" or "7d"`
	case t.Kind() == reflect.String:
		return "a string"
	case t.Kind() == reflect.Bool:
		return "true or false"
	case t.Kind() == reflect.Int:
		return "a number"
	case t.Kind() == reflect.Slice:
		return "a list"
	case t.Kind() == reflect.Map || t.Kind() == reflect.Struct:
		return "an object"
	}
	return t.String()
}

// Validate reports the first thing wrong with r, naming its field.
func (r Rules) Validate() error {
	_, err := r.compile()
	return err
}

// ruleset is Rules compiled for the folds: arrays instead of maps, the
// time zone loaded.
type ruleset struct {
	rule     [nRules]compiledRule
	policy   [nPolicies]compiledPolicy
	loc      *time.Location
	open     int // business day start, seconds after midnight
	close    int // business day end
	workdays [7]bool
}

type compiledRule struct {
	after    time.Duration
	business bool
	severity Severity
	off      bool
	changes  []compiledChange // by date, earliest first
}

type compiledChange struct {
	from     time.Time // the first instant of the date in the rules' zone
	after    time.Duration
	business bool
}

type compiledPolicy struct {
	off  bool
	rule ruleID
}

var weekdays = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// compile checks r and fills in the defaults for what it leaves out.
func (r Rules) compile() (*ruleset, error) {
	def := DefaultRules()
	rs := &ruleset{}
	tz := r.TimeZone
	if tz == "" {
		tz = def.TimeZone
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, &RulesError{Field: "time_zone", Reason: fmt.Sprintf("unknown time zone %q", tz)}
	}
	rs.loc = loc
	bh := r.BusinessHours
	if bh.Start == "" {
		bh.Start = def.BusinessHours.Start
	}
	if bh.End == "" {
		bh.End = def.BusinessHours.End
	}
	if bh.Days == nil {
		bh.Days = def.BusinessHours.Days
	}
	if rs.open, err = clockTime(bh.Start); err != nil {
		return nil, &RulesError{Field: "business_hours.start", Reason: err.Error()}
	}
	if rs.close, err = clockTime(bh.End); err != nil {
		return nil, &RulesError{Field: "business_hours.end", Reason: err.Error()}
	}
	if rs.close <= rs.open {
		return nil, &RulesError{Field: "business_hours.end", Reason: "must be after start"}
	}
	for i, d := range bh.Days {
		wd, ok := weekdays[strings.ToLower(d)]
		if !ok {
			return nil, &RulesError{Field: fmt.Sprintf("business_hours.days[%d]", i), Reason: fmt.Sprintf("want mon, tue, wed, thu, fri, sat or sun, got %q", d)}
		}
		rs.workdays[wd] = true
	}
	if !slices.Contains(rs.workdays[:], true) {
		return nil, &RulesError{Field: "business_hours.days", Reason: "no working day"}
	}
	for name := range r.Deadlines {
		if _, ok := ruleByName(name); !ok {
			return nil, &RulesError{Field: "rules." + name, Reason: "unknown rule"}
		}
	}
	for i, name := range ruleNames {
		d := def.Deadlines[name]
		if v, ok := r.Deadlines[name]; ok {
			if v.After != 0 {
				d.After = v.After
			}
			if v.Clock != "" {
				d.Clock = v.Clock
			}
			if v.Severity != "" {
				d.Severity = v.Severity
			}
			d.Off = v.Off
			d.Changes = v.Changes
		}
		field := "rules." + name
		switch {
		case d.After < 0:
			return nil, &RulesError{Field: field + ".after", Reason: "must not be negative"}
		case d.Clock != "" && d.Clock != CalendarClock && d.Clock != BusinessClock:
			return nil, &RulesError{Field: field + ".clock", Reason: fmt.Sprintf("want %q or %q, got %q", CalendarClock, BusinessClock, d.Clock)}
		case d.Severity != "" && d.Severity != Info && d.Severity != Warning && d.Severity != Critical:
			return nil, &RulesError{Field: field + ".severity", Reason: fmt.Sprintf("want info, warning or critical, got %q", d.Severity)}
		}
		rs.rule[i] = compiledRule{after: time.Duration(d.After), business: d.Clock == BusinessClock, severity: d.Severity, off: d.Off}
		for j, c := range d.Changes {
			f := fmt.Sprintf("%s.changes[%d]", field, j)
			day, err := time.ParseInLocation(time.DateOnly, c.From, loc)
			switch {
			case err != nil:
				return nil, &RulesError{Field: f + ".from", Reason: fmt.Sprintf("want a date like \"2027-01-01\", got %q", c.From)}
			case c.After <= 0:
				return nil, &RulesError{Field: f + ".after", Reason: "want a duration more than zero"}
			case c.Clock != "" && c.Clock != CalendarClock && c.Clock != BusinessClock:
				return nil, &RulesError{Field: f + ".clock", Reason: fmt.Sprintf("want %q or %q, got %q", CalendarClock, BusinessClock, c.Clock)}
			case j > 0 && !day.After(rs.rule[i].changes[j-1].from):
				return nil, &RulesError{Field: f + ".from", Reason: "changes must be in date order"}
			}
			rs.rule[i].changes = append(rs.rule[i].changes, compiledChange{from: day, after: time.Duration(c.After), business: c.Clock == BusinessClock})
		}
		if rs.rule[i].severity == "" {
			rs.rule[i].severity = Warning
		}
	}
	for name := range r.Policies {
		if _, ok := policyByName(name); !ok {
			return nil, &RulesError{Field: "policies." + name, Reason: "unknown policy"}
		}
	}
	for i, name := range policyNames {
		p := def.Policies[name]
		if v, ok := r.Policies[name]; ok {
			if v.Rule != "" {
				p.Rule = v.Rule
			}
			p.Off = v.Off
		}
		id, ok := ruleByName(p.Rule)
		if !ok {
			return nil, &RulesError{Field: "policies." + name + ".rule", Reason: fmt.Sprintf("unknown rule %q", p.Rule)}
		}
		rs.policy[i] = compiledPolicy{off: p.Off, rule: id}
	}
	return rs, nil
}

func clockTime(s string) (int, error) {
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, fmt.Errorf("want a time of day like \"08:00\", got %q", s)
	}
	return t.Hour()*3600 + t.Minute()*60, nil
}

// on reports whether a rule is switched on.
func (rs *ruleset) on(id ruleID) bool { return !rs.rule[id].off }

// deadline returns the deadline of rule id triggered at t, by the
// version of the rule in force at t.
func (rs *ruleset) deadline(id ruleID, t time.Time) time.Time {
	r := rs.rule[id]
	after, business := r.after, r.business
	for _, c := range r.changes {
		if !t.Before(c.from) {
			after, business = c.after, c.business
		}
	}
	if business {
		return rs.addBusiness(t, after)
	}
	return t.Add(after)
}

// addBusiness adds d of working time to t: only the hours between open and
// close on working days count. It is the simple form of rule 11: public
// holidays are not known.
func (rs *ruleset) addBusiness(t time.Time, d time.Duration) time.Time {
	t = t.In(rs.loc)
	// A year of working days is more than any rule needs; the bound only
	// guards against a loop on a broken configuration.
	for range 800 {
		y, m, day := t.Date()
		start := time.Date(y, m, day, 0, 0, rs.open, 0, rs.loc)
		end := time.Date(y, m, day, 0, 0, rs.close, 0, rs.loc)
		next := time.Date(y, m, day+1, 0, 0, 0, 0, rs.loc)
		switch {
		case !rs.workdays[t.Weekday()] || !t.Before(end):
			t = next
			continue
		case t.Before(start):
			t = start
		}
		if left := end.Sub(t); d <= left {
			return t.Add(d).UTC()
		} else {
			d -= left
		}
		t = next
	}
	return t.UTC()
}

// day returns the calendar day of t in the rules' time zone, as days since
// 1970-01-01.
func (rs *ruleset) day(t time.Time) int32 {
	y, m, d := t.In(rs.loc).Date()
	return int32(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400)
}

func dayString(day int32) string {
	return time.Unix(int64(day)*86400, 0).UTC().Format(time.DateOnly)
}
