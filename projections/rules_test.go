package projections

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestLoadRulesErrors(t *testing.T) {
	tests := []struct {
		name, file, field string
	}{
		{"unknown top-level field", `{"rulez": {}}`, "rulez"},
		{"unknown rule field", `{"rules": {"no-owner": {"aftr": "4h"}}}`, "rules.no-owner.aftr"},
		{"bad duration", `{"rules": {"no-owner": {"after": "4 hours"}}}`, "rules.no-owner.after"},
		{"duration as a number", `{"rules": {"no-owner": {"after": 4}}}`, "rules.no-owner.after"},
		{"zero duration", `{"rules": {"no-owner": {"after": "0s"}}}`, "rules.no-owner.after"},
		{"negative duration", `{"rules": {"no-owner": {"after": "-4h"}}}`, "rules.no-owner.after"},
		{"unknown severity", `{"rules": {"no-owner": {"severity": "high"}}}`, "rules.no-owner.severity"},
		{"unknown clock", `{"rules": {"no-owner": {"clock": "lunar"}}}`, "rules.no-owner.clock"},
		{"off not a bool", `{"rules": {"no-owner": {"off": "yes"}}}`, "rules.no-owner.off"},
		{"unknown rule", `{"rules": {"nope": {}}}`, "rules.nope"},
		{"rule not an object", `{"rules": {"no-owner": "4h"}}`, "rules.no-owner"},
		{"unknown policy", `{"policies": {"nope": {}}}`, "policies.nope"},
		{"policy names unknown rule", `{"policies": {"discharge-services": {"rule": "nope"}}}`, "policies.discharge-services.rule"},
		{"unknown time zone", `{"time_zone": "Mars/Olympus"}`, "time_zone"},
		{"bad start", `{"business_hours": {"start": "8"}}`, "business_hours.start"},
		{"end before start", `{"business_hours": {"start": "15:00", "end": "08:00"}}`, "business_hours.end"},
		{"bad weekday", `{"business_hours": {"days": ["mon", "xyz"]}}`, "business_hours.days[1]"},
		{"no working day", `{"business_hours": {"days": []}}`, "business_hours.days"},
		{"truncated", `{`, "(file)"},
		{"empty", ``, "(file)"},
		{"two values", `{} {}`, "(file)"},
		{"null", `null`, "(file)"},
		{"not an object", `[1]`, "(file)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadRules(strings.NewReader(tt.file))
			var re *RulesError
			if !errors.As(err, &re) {
				t.Fatalf("LoadRules(%s): got error %v; want a *RulesError", tt.file, err)
			}
			if re.Field != tt.field {
				t.Errorf("LoadRules(%s): got field %q (%v); want %q", tt.file, re.Field, err, tt.field)
			}
			if !errors.Is(err, ErrRules) {
				t.Errorf("errors.Is(%v, ErrRules) = false; want true", err)
			}
		})
	}
}

func TestLoadRulesPartial(t *testing.T) {
	r, err := LoadRules(strings.NewReader(`{
		"rules": {"municipal-acceptance": {"after": "2h", "clock": "business-hours"}, "acknowledgement": {"off": true}},
		"policies": {"discharge-letter": {"off": true}},
		"business_hours": {"end": "16:00"}
	}`))
	if err != nil {
		t.Fatal(err)
	}
	def := DefaultRules()
	tests := []struct {
		name      string
		got, want any
	}{
		{"changed after", r.Deadlines[RuleMunicipalAcceptance].After, Duration(2 * time.Hour)},
		{"changed clock", r.Deadlines[RuleMunicipalAcceptance].Clock, BusinessClock},
		{"kept severity", r.Deadlines[RuleMunicipalAcceptance].Severity, Critical},
		{"kept source", r.Deadlines[RuleMunicipalAcceptance].Source, def.Deadlines[RuleMunicipalAcceptance].Source},
		{"switched off", r.Deadlines[RuleAcknowledgement].Off, true},
		{"untouched rule", r.Deadlines[RuleDischargeLetter], def.Deadlines[RuleDischargeLetter]},
		{"policy off", r.Policies[PolicyDischargeLetter].Off, true},
		{"policy kept rule", r.Policies[PolicyDischargeLetter].Rule, RuleOfferAnswer},
		{"hours end", r.BusinessHours.End, "16:00"},
		{"hours start kept", r.BusinessHours.Start, "08:00"},
		{"time zone kept", r.TimeZone, "Europe/Copenhagen"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !reflect.DeepEqual(tt.got, tt.want) {
				t.Errorf("got %v; want %v", tt.got, tt.want)
			}
		})
	}
}

func TestZeroRulesAreDefaults(t *testing.T) {
	zero, err := Rules{}.compile()
	if err != nil {
		t.Fatal(err)
	}
	def, err := DefaultRules().compile()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(zero.rule, def.rule) || zero.policy != def.policy || zero.open != def.open || zero.close != def.close || zero.workdays != def.workdays || zero.loc.String() != def.loc.String() {
		t.Errorf("Rules{} compiles to %+v; want the defaults %+v", zero, def)
	}
}

func TestDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		out  string
	}{
		{"90m", 90 * time.Minute, "90m"},
		{"4h", 4 * time.Hour, "4h"},
		{"72h", 72 * time.Hour, "3d"},
		{"7d", 7 * 24 * time.Hour, "7d"},
		{"1d12h", 36 * time.Hour, "36h"},
		{"1d", 24 * time.Hour, "24h"},
		{"0s", 0, "0s"},
		{"1m30s", 90 * time.Second, "1m30s"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			d, err := ParseDuration(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if time.Duration(d) != tt.want {
				t.Errorf("ParseDuration(%q) = %v; want %v", tt.in, time.Duration(d), tt.want)
			}
			if d.String() != tt.out {
				t.Errorf("String() = %q; want %q", d.String(), tt.out)
			}
		})
	}
	for _, bad := range []string{"", "d", "-1d", "x7d", "4 hours", "7d-1h"} {
		t.Run("bad "+bad, func(t *testing.T) {
			if d, err := ParseDuration(bad); err == nil {
				t.Errorf("ParseDuration(%q) = %v; want an error", bad, d)
			}
		})
	}
}

func TestBusinessHours(t *testing.T) {
	rs, err := Rules{}.compile() // 08:00–15:00 Monday to Friday, Copenhagen
	if err != nil {
		t.Fatal(err)
	}
	at := func(d, h, m int) time.Time { return time.Date(2026, 11, d, h, m, 0, 0, cph) } // 2 November 2026 is a Monday
	tests := []struct {
		name string
		from time.Time
		add  time.Duration
		want time.Time
	}{
		{"within the day", at(2, 9, 0), 4 * time.Hour, at(2, 13, 0)},
		{"to the close", at(2, 9, 0), 6 * time.Hour, at(2, 15, 0)},
		{"over the night", at(2, 14, 0), 4 * time.Hour, at(3, 11, 0)},
		{"before opening", at(2, 6, 0), 1 * time.Hour, at(2, 9, 0)},
		{"after closing", at(2, 18, 0), 1 * time.Hour, at(3, 9, 0)},
		{"over the weekend", at(6, 14, 0), 2 * time.Hour, at(9, 9, 0)},
		{"from a Sunday", at(8, 12, 0), 30 * time.Minute, at(9, 8, 30)},
		{"a working day", at(2, 10, 0), 7 * time.Hour, at(3, 10, 0)},
		{"zero", at(2, 10, 0), 0, at(2, 10, 0)},
		{"summer time ends", time.Date(2026, 10, 23, 14, 0, 0, 0, cph), 2 * time.Hour, time.Date(2026, 10, 26, 9, 0, 0, 0, cph)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := rs.addBusiness(tt.from, tt.add); !got.Equal(tt.want) {
				t.Errorf("addBusiness(%s, %v) = %s; want %s", tt.from.Format(time.RFC3339), tt.add, got.In(cph).Format(time.RFC3339), tt.want.Format(time.RFC3339))
			}
		})
	}
	t.Run("a rule on the business clock", func(t *testing.T) {
		r := DefaultRules()
		rule := r.Deadlines[RuleMunicipalAcceptance]
		rule.Clock = BusinessClock
		r.Deadlines[RuleMunicipalAcceptance] = rule
		rs, err := r.compile()
		if err != nil {
			t.Fatal(err)
		}
		if got, want := rs.deadline(rMunicipalAcceptance, at(2, 14, 0)), at(3, 11, 0); !got.Equal(want) {
			t.Errorf("deadline = %s; want %s", got.In(cph), want)
		}
		if got, want := rs.deadline(rNoOwner, at(2, 14, 0)), at(2, 18, 0); !got.Equal(want) {
			t.Errorf("calendar rule deadline = %s; want %s", got.In(cph), want)
		}
	})
}

func FuzzLoadRules(f *testing.F) {
	f.Add(DefaultRulesJSON())
	f.Add([]byte(`{"rules": {"no-owner": {"after": "2h", "clock": "business-hours"}}}`))
	f.Add([]byte(`{"business_hours": {"days": ["sat"]}, "time_zone": "UTC"}`))
	f.Add([]byte(`{"policies": {"discharge-letter": {"off": true, "rule": "reoffer"}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := LoadRules(strings.NewReader(string(b)))
		if err != nil {
			var re *RulesError
			if !errors.As(err, &re) {
				t.Fatalf("got %T %v; want a *RulesError", err, err)
			}
			return
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("LoadRules accepted rules that do not validate: %v", err)
		}
	})
}

// A rule's deadlines can change at a date: each deadline follows the
// version in force when it was triggered.
func TestRuleChanges(t *testing.T) {
	r, err := LoadRules(strings.NewReader(`{"rules": {"municipal-acceptance": {"after": "4h",
		"changes": [{"from": "2027-01-01", "after": "2h"}, {"from": "2027-06-01", "after": "1h", "clock": "business-hours"}]}}}`))
	if err != nil {
		t.Fatal(err)
	}
	rs, err := r.compile()
	if err != nil {
		t.Fatal(err)
	}
	cph, _ := time.LoadLocation("Europe/Copenhagen")
	tests := []struct {
		name     string
		at, want time.Time
	}{
		{"31 December, 23:00: the old rule", time.Date(2026, 12, 31, 23, 0, 0, 0, cph), time.Date(2027, 1, 1, 3, 0, 0, 0, cph)},
		{"1 January, 00:00: the new", time.Date(2027, 1, 1, 0, 0, 0, 0, cph), time.Date(2027, 1, 1, 2, 0, 0, 0, cph)},
		{"June, business hours", time.Date(2027, 6, 4, 14, 30, 0, 0, cph), time.Date(2027, 6, 7, 8, 30, 0, 0, cph)}, // Friday 14:30 + 1 h of 08-15
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := rs.deadline(rMunicipalAcceptance, tt.at); !got.Equal(tt.want) {
				t.Errorf("got %s; want %s", got.In(cph), tt.want)
			}
		})
	}
	for _, bad := range []struct{ body, field string }{
		{`{"rules": {"no-owner": {"changes": [{"from": "1 January", "after": "2h"}]}}}`, "rules.no-owner.changes[0].from"},
		{`{"rules": {"no-owner": {"changes": [{"from": "2027-01-01"}]}}}`, "rules.no-owner.changes[0].after"},
		{`{"rules": {"no-owner": {"changes": [{"from": "2027-01-01", "after": "2h", "until": "x"}]}}}`, "rules.no-owner.changes[0].until"},
		{`{"rules": {"no-owner": {"changes": [{"from": "2027-02-01", "after": "2h"}, {"from": "2027-01-01", "after": "1h"}]}}}`, "rules.no-owner.changes[1].from"},
	} {
		t.Run(bad.field, func(t *testing.T) {
			r, err := LoadRules(strings.NewReader(bad.body))
			if err == nil {
				_, err = r.compile()
			}
			var re *RulesError
			if !errors.As(err, &re) || re.Field != bad.field {
				t.Errorf("got %v; want a RulesError on %s", err, bad.field)
			}
		})
	}
}
