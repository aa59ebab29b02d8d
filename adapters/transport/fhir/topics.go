package fhir

import (
	"net/http"

	"github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/stafet/stafet/adapters/transport/alerts"
)

// topicBase starts the canonical URLs of Stafet's subscription topics.
const topicBase = "https://stafet.dk/fhir/SubscriptionTopic/"

// topic is a subscription topic: a kind of alert, told as a FHIR
// notification about a focus resource.
type topic struct {
	id, title, description string
	kinds                  []alerts.Kind
	// focus is the resource type the notifications are about.
	focus string
	// wants narrows the alerts of kinds further, or is nil.
	wants func(alerts.Alert) bool
}

func (t topic) url() string { return topicBase + t.id }

// topics are the subscription topics the facade offers.
var topics = []topic{
	{id: "handoff-offered", title: "Handoff offered",
		description: "A handoff was offered to the subscribing organisation: a Task it owns is requested.",
		kinds:       []alerts.Kind{alerts.OfferReceived}, focus: "Task"},
	{id: "handoff-overdue", title: "Handoff overdue",
		description: "The answer to a handoff the subscribing organisation can act on is overdue: the Task's restriction.period.end passed unanswered.",
		kinds:       []alerts.Kind{alerts.DeadlineElapsed}, focus: "Task",
		wants: func(a alerts.Alert) bool { return a.Offer != nil }},
	{id: "gap-opened", title: "Gap opened",
		description: "A gap in the chain of responsibility opened that the subscribing organisation can close (docs/projections.md lists the gap kinds).",
		kinds:       []alerts.Kind{alerts.GapOpened}, focus: "EpisodeOfCare"},
	{id: "gap-closed", title: "Gap closed",
		description: "A gap the subscribing organisation could close was closed, or annulled by a correction.",
		kinds:       []alerts.Kind{alerts.GapClosed}, focus: "EpisodeOfCare"},
}

func topicByURL(url string) (topic, bool) {
	for _, t := range topics {
		if t.url() == url {
			return t, true
		}
	}
	return topic{}, false
}

const xverTopic = "http://hl7.org/fhir/5.0/StructureDefinition/extension-SubscriptionTopic."

// basic renders a topic as R4 has it: a Basic resource with the R5
// SubscriptionTopic's elements as cross-version extensions (the
// Subscriptions Backport IG's way for R4).
func (t topic) basic() fhir.Basic {
	str := func(name, v string) fhir.Extension { return fhir.Extension{Url: xverTopic + name, ValueString: ptr(v)} }
	trigger := fhir.Extension{Url: xverTopic + "resourceTrigger", Extension: []fhir.Extension{
		{Url: "description", ValueMarkdown: ptr(t.description)},
		{Url: "resource", ValueUri: ptr("http://hl7.org/fhir/StructureDefinition/" + t.focus)},
	}}
	return fhir.Basic{
		Id: ptr(t.id),
		ModifierExtension: []fhir.Extension{
			{Url: xverTopic + "status", ValueCode: ptr("active")},
		},
		Extension: []fhir.Extension{
			{Url: xverTopic + "url", ValueUri: ptr(t.url())},
			str("title", t.title),
			{Url: xverTopic + "description", ValueMarkdown: ptr(t.description)},
			trigger,
		},
		Code: fhir.CodeableConcept{Coding: []fhir.Coding{{System: ptr("http://hl7.org/fhir/fhir-types"), Code: ptr("SubscriptionTopic")}}},
	}
}

// readTopic answers GET /fhir/Basic/{id}.
func (s *Server) readTopic(w http.ResponseWriter, r *http.Request) {
	if err := onlyParams(r.URL.Query()); err != nil {
		fail(w, r, err)
		return
	}
	for _, t := range topics {
		if t.id == r.PathValue("id") {
			writeResource(w, http.StatusOK, t.basic())
			return
		}
	}
	writeOutcome(w, r, problem(http.StatusNotFound, "not-found", "id", "no such Basic resource (the subscription topics are "+topicIDs()+")"))
}

func topicIDs() string {
	out := ""
	for i, t := range topics {
		if i > 0 {
			out += ", "
		}
		out += t.id
	}
	return out
}

// searchTopics answers GET /fhir/Basic?code=SubscriptionTopic: the
// topics are the only Basic resources.
func (s *Server) searchTopics(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if err := onlyParams(q, "code"); err != nil {
		fail(w, r, err)
		return
	}
	var page []any
	if c := q.Get("code"); c == "" || c == "SubscriptionTopic" || c == "http://hl7.org/fhir/fhir-types|SubscriptionTopic" {
		for _, t := range topics {
			page = append(page, t.basic())
		}
	}
	writeResource(w, http.StatusOK, s.searchset(r, &query{count: len(topics)}, page, "", nil))
}
