package httpapi

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"github.com/stafet/stafet/events"
	"github.com/stafet/stafet/projections"
)

// The JSON shapes of what the API reads out. They are the API's own, so
// the projections can change their Go types without changing the API.

type eventView struct {
	Seq         uint64          `json:"seq"`
	ID          uuid.UUID       `json:"id"`
	Type        events.Type     `json:"type"`
	OccurredAt  time.Time       `json:"occurred_at"`
	RecordedAt  time.Time       `json:"recorded_at,omitzero"`
	Actor       *actorView      `json:"actor,omitempty"`
	Source      *sourceView     `json:"source,omitempty"`
	Correlation string          `json:"correlation,omitempty"`
	Annulled    bool            `json:"annulled,omitempty"`
	Data        json.RawMessage `json:"data"`
}

type actorView struct {
	Org  events.OrgID `json:"org,omitempty"`
	Role string       `json:"role,omitempty"`
}

type sourceView struct {
	System    string       `json:"system,omitempty"`
	Org       events.OrgID `json:"org,omitempty"`
	MessageID string       `json:"message_id,omitempty"`
}

// timeline renders a history. The sealed identity is left out of
// PathwayOpened: it is shown, decrypted, only on request.
func timeline(history []events.Envelope, annulled events.Annulments) []eventView {
	out := make([]eventView, 0, len(history))
	for i := range history {
		e := &history[i]
		v := eventView{
			Seq: e.Seq, ID: e.ID, Type: e.Type, OccurredAt: e.OccurredAt, RecordedAt: e.RecordedAt,
			Correlation: e.Correlation, Annulled: annulled.Annulled(e),
		}
		if e.Actor != (events.Actor{}) {
			v.Actor = &actorView{Org: e.Actor.Org, Role: e.Actor.Role}
		}
		if e.Source != (events.Source{}) {
			v.Source = &sourceView{System: e.Source.System, Org: e.Source.Org, MessageID: e.Source.MessageID}
		}
		payload := e.Payload
		if o, ok := payload.(*events.PathwayOpened); ok && o.Identity != nil {
			c := *o
			c.Identity = nil
			payload = &c
		}
		v.Data, _ = json.Marshal(payload)
		out = append(out, v)
	}
	return out
}

// GapView is a gap as the API writes it (GET /v1/gaps, worklists,
// pathways), and as its clients read it.
type GapView struct {
	ID           uuid.UUID            `json:"id"`
	Kind         projections.GapKind  `json:"kind"`
	Pathway      uuid.UUID            `json:"pathway"`
	Cluster      string               `json:"cluster"`
	Municipality events.OrgID         `json:"municipality,omitempty"`
	Ref          string               `json:"ref"`
	Rule         string               `json:"rule"`
	Severity     projections.Severity `json:"severity"`
	Closers      []events.OrgID       `json:"closers"`
	OpenedAt     time.Time            `json:"opened_at"`
	Deadline     time.Time            `json:"deadline,omitzero"`
	Escalated    bool                 `json:"escalated"`
	Recorded     bool                 `json:"recorded"`
	Open         bool                 `json:"open"`
	ClosedAt     time.Time            `json:"closed_at,omitzero"`
	ClosedBy     uuid.UUID            `json:"closed_by,omitzero"`
	ClosedByType events.Type          `json:"closed_by_type,omitempty"`
	Days         int                  `json:"days,omitempty"`
	// Patient is who the pathway is about, where the reader asked and may
	// see it (a worklist's ?identity=true).
	Patient *IdentityView `json:"patient,omitempty"`
}

func viewGap(g projections.Gap) GapView {
	v := GapView{
		ID: g.ID, Kind: g.Kind, Pathway: g.Pathway, Cluster: g.Cluster, Municipality: g.Municipality,
		Ref: g.Ref, Rule: g.Rule, Severity: g.Severity, Closers: g.Closers, OpenedAt: g.OpenedAt,
		Deadline: g.Deadline, Escalated: g.Escalated, Recorded: g.Recorded, Open: g.Open(),
		ClosedAt: g.ClosedAt, ClosedBy: g.ClosedBy, ClosedByType: g.ClosedByType, Days: g.Days,
	}
	if v.Closers == nil {
		v.Closers = []events.OrgID{}
	}
	return v
}

func viewGaps(gs []projections.Gap) []GapView {
	out := make([]GapView, 0, len(gs))
	for _, g := range gs {
		out = append(out, viewGap(g))
	}
	return out
}

type ownerView struct {
	Cluster      string        `json:"cluster"`
	Municipality events.OrgID  `json:"municipality,omitempty"`
	OpenedAt     time.Time     `json:"opened_at,omitzero"`
	Died         bool          `json:"died,omitempty"`
	Closed       bool          `json:"closed"`
	ClosedAt     time.Time     `json:"closed_at,omitzero"`
	Holders      []holdingView `json:"holders"`
	Chain        []handoffView `json:"chain"`
}

type holdingView struct {
	What  events.Responsibility `json:"what"`
	Org   events.OrgID          `json:"org"`
	Since time.Time             `json:"since"`
}

type handoffView struct {
	Offer    string                `json:"offer"`
	What     events.Responsibility `json:"what"`
	From     events.OrgID          `json:"from"`
	To       events.OrgID          `json:"to"`
	Status   events.OfferStatus    `json:"status"`
	Offered  time.Time             `json:"offered"`
	Deadline time.Time             `json:"deadline,omitzero"`
	Answered time.Time             `json:"answered,omitzero"`
	Ended    time.Time             `json:"ended,omitzero"`
}

func viewOwner(o projections.OwnerView) ownerView {
	v := ownerView{
		Cluster: o.Cluster, Municipality: o.Municipality, OpenedAt: o.OpenedAt, Died: o.Died,
		Closed: o.Closed, ClosedAt: o.ClosedAt, Holders: []holdingView{}, Chain: []handoffView{},
	}
	for _, h := range o.Holders {
		v.Holders = append(v.Holders, holdingView{What: h.What, Org: h.Org, Since: h.Since})
	}
	for _, h := range o.Chain {
		v.Chain = append(v.Chain, handoffView{
			Offer: h.Offer, What: h.What, From: h.From, To: h.To, Status: h.Status,
			Offered: h.Offered, Deadline: h.Deadline, Answered: h.Answered, Ended: h.Ended,
		})
	}
	return v
}

type deadlineView struct {
	Ref  string              `json:"ref"`
	Rule string              `json:"rule"`
	Kind projections.GapKind `json:"kind"`
	At   time.Time           `json:"at"`
}

func viewDeadlines(ds []projections.Deadline) []deadlineView {
	out := make([]deadlineView, 0, len(ds))
	for _, d := range ds {
		out = append(out, deadlineView{Ref: d.Ref, Rule: d.Rule, Kind: d.Kind, At: d.At})
	}
	return out
}

// WorklistView is an organisation's worklist as the API writes it.
type WorklistView struct {
	Org    events.OrgID `json:"org"`
	At     time.Time    `json:"at"`
	Offers []OfferView  `json:"offers"`
	Gaps   []GapView    `json:"gaps"`
}

// OfferView is an offer waiting for an answer, in a worklist.
type OfferView struct {
	Pathway  uuid.UUID             `json:"pathway"`
	Cluster  string                `json:"cluster"`
	Offer    string                `json:"offer"`
	What     events.Responsibility `json:"what"`
	From     events.OrgID          `json:"from"`
	Offered  time.Time             `json:"offered"`
	Deadline time.Time             `json:"deadline,omitzero"`
	Overdue  bool                  `json:"overdue"`
	Paused   bool                  `json:"paused"`
	// Patient: as GapView's.
	Patient *IdentityView `json:"patient,omitempty"`
}

func viewWorklist(wl projections.Worklist) WorklistView {
	v := WorklistView{Org: wl.Org, At: wl.At, Offers: []OfferView{}, Gaps: viewGaps(wl.Gaps)}
	for _, o := range wl.Offers {
		v.Offers = append(v.Offers, OfferView{
			Pathway: o.Pathway, Cluster: o.Cluster, Offer: o.Offer, What: o.What, From: o.From,
			Offered: o.Offered, Deadline: o.Deadline, Overdue: o.Overdue, Paused: o.Paused,
		})
	}
	return v
}

type figuresView struct {
	Scope         string                           `json:"scope"`
	At            time.Time                        `json:"at"`
	OpenGaps      map[projections.GapKind]agesView `json:"open_gaps"`
	OfferToAccept latencyView                      `json:"offer_to_accept"`
	ReadyNow      int                              `json:"ready_now"`
	ReadyBedDays  int64                            `json:"ready_bed_days"`
	Daily         []dayView                        `json:"daily"`
	// Months are the board figures of the months up to at's, oldest
	// first (?months=, default 12).
	Months []monthView `json:"months"`
}

// monthView is one month of board figures (docs/projections.md).
type monthView struct {
	Month              string      `json:"month"`
	Admissions         int         `json:"admissions"`
	Discharges         int         `json:"discharges"`
	Readmitted         int         `json:"readmitted_30d"`
	Readmissions       float64     `json:"readmission_rate_30d"`
	ReadyBedDays       int         `json:"ready_bed_days"`
	DischargeToService latencyView `json:"discharge_to_service"`
	OfferToAccept      latencyView `json:"offer_to_accept"`
	GapsOpened         int         `json:"gaps_opened"`
	Population         int         `json:"population"`
	GapsPer10000       float64     `json:"gaps_per_10000"`
	// ByAgeBand splits discharges and readmissions by the patient's age
	// band at the opening (0-17, 18-64, 65-79, 80+).
	ByAgeBand map[events.AgeBand]ageBandView `json:"by_age_band"`
}

type ageBandView struct {
	Discharges   int     `json:"discharges"`
	Readmitted   int     `json:"readmitted_30d"`
	Readmissions float64 `json:"readmission_rate_30d"`
}

func viewLatency(l projections.Latency) latencyView {
	return latencyView{Count: l.Count, MedianSeconds: l.Median.Seconds(), P90Seconds: l.P90.Seconds()}
}

func viewMonths(ms []projections.MonthFigures) []monthView {
	out := make([]monthView, 0, len(ms))
	for _, m := range ms {
		out = append(out, monthView{
			Month: m.Month, Admissions: m.Admissions, Discharges: m.Discharges, Readmitted: m.Readmitted, Readmissions: m.Readmissions,
			ReadyBedDays: m.ReadyBedDays, DischargeToService: viewLatency(m.DischargeToService), OfferToAccept: viewLatency(m.OfferToAccept),
			GapsOpened: m.GapsOpened, Population: m.Population, GapsPer10000: m.GapsPer10000,
			ByAgeBand: map[events.AgeBand]ageBandView{},
		})
		for band, x := range m.ByAgeBand {
			out[len(out)-1].ByAgeBand[band] = ageBandView{Discharges: x.Discharges, Readmitted: x.Readmitted, Readmissions: x.Readmissions}
		}
	}
	return out
}

// agesView counts open gaps by age: under 4 h, 4–24 h, 1–3 days, 3–7
// days, 7 days or more.
type agesView struct {
	Total int    `json:"total"`
	ByAge [5]int `json:"by_age"`
}

type latencyView struct {
	Count         int     `json:"count"`
	MedianSeconds float64 `json:"median_seconds"`
	P90Seconds    float64 `json:"p90_seconds"`
}

type dayView struct {
	Day          string `json:"day"`
	Admissions   int    `json:"admissions"`
	Discharges   int    `json:"discharges"`
	GapsOpened   int    `json:"gaps_opened"`
	GapsClosed   int    `json:"gaps_closed"`
	ReadyBedDays int    `json:"ready_bed_days"`
}

func viewFigures(f projections.ClusterFigures) figuresView {
	v := figuresView{
		Scope: f.Scope, At: f.At, OpenGaps: map[projections.GapKind]agesView{},
		OfferToAccept: latencyView{Count: f.OfferToAccept.Count, MedianSeconds: f.OfferToAccept.Median.Seconds(), P90Seconds: f.OfferToAccept.P90.Seconds()},
		ReadyNow:      f.ReadyNow, ReadyBedDays: f.ReadyBedDays, Daily: []dayView{},
	}
	for _, k := range projections.Kinds() {
		a := f.OpenGaps[k]
		v.OpenGaps[k] = agesView{Total: a.Total(), ByAge: a}
	}
	for _, d := range f.Daily {
		v.Daily = append(v.Daily, dayView{Day: d.Day, Admissions: d.Admissions, Discharges: d.Discharges, GapsOpened: d.GapsOpened, GapsClosed: d.GapsClosed, ReadyBedDays: d.ReadyBedDays})
	}
	return v
}
