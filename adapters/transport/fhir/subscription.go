package fhir

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync/atomic"

	"github.com/google/uuid"
	"github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/stafet/stafet/adapters/transport/alerts"
	"github.com/stafet/stafet/adapters/transport/httpapi"
	"github.com/stafet/stafet/events"
)

// Format is the name FHIR subscriptions are registered under with the
// alert service (alerts.HookOptions.Format).
const Format = "fhir-r4-backport"

// The Subscriptions Backport IG's profiles and extensions.
const (
	backportBase        = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/"
	profileSubscription = backportBase + "backport-subscription"
	profileStatus       = backportBase + "backport-subscription-status-r4"
	profileNotification = backportBase + "backport-subscription-notification-r4"
	extPayloadContent   = backportBase + "backport-payload-content"
	extFilterCriteria   = backportBase + "backport-filter-criteria"
	// extSecret carries a subscription's signing secret, once, in the
	// answer to its creation.
	extSecret = "https://stafet.dk/fhir/StructureDefinition/signing-secret"
)

// settings are what a subscription keeps besides its webhook.
type settings struct {
	Topic   string `json:"topic"`
	Content string `json:"content"`
	Reason  string `json:"reason"`
}

// Notifier writes subscription notifications for the alert service: it
// is an alerts.Formatter. Make it first, give it to alerts.Config.Formats
// under Format and to Config.Notifier; New binds it to the facade.
// Deliveries before that are retried.
type Notifier struct{ s atomic.Pointer[Server] }

// Wants reports whether the subscription's topic takes the alert.
func (n *Notifier) Wants(hook alerts.Webhook, a alerts.Alert) bool {
	var st settings
	if json.Unmarshal(hook.Settings, &st) != nil {
		return false
	}
	t, ok := topicByURL(st.Topic)
	if !ok || !kindIn(t.kinds, a.Kind) {
		return false
	}
	return t.wants == nil || t.wants(a)
}

func kindIn(ks []alerts.Kind, k alerts.Kind) bool {
	for _, x := range ks {
		if x == k {
			return true
		}
	}
	return false
}

var errUnbound = errors.New("fhir: the facade is not mounted yet")

// Format writes the notification bundle of an alert.
func (n *Notifier) Format(ctx context.Context, hook alerts.Webhook, a alerts.Alert, number uint64) ([]byte, string, error) {
	s := n.s.Load()
	if s == nil {
		return nil, "", errUnbound
	}
	b, err := s.notification(ctx, hook, a, number)
	if err != nil {
		return nil, "", err
	}
	body, err := json.Marshal(b)
	return body, MediaType, err
}

// status is the subscription status Parameters of a notification.
func (s *Server) status(hook alerts.Webhook, typ string, events uint64, subStatus string) fhir.Parameters {
	var st settings
	json.Unmarshal(hook.Settings, &st)
	return fhir.Parameters{
		Id:   ptr(uuid.NewString()),
		Meta: &fhir.Meta{Profile: []string{profileStatus}},
		Parameter: []fhir.ParametersParameter{
			{Name: "subscription", ValueReference: &fhir.Reference{Reference: ptr(s.base(nil) + "/Subscription/" + hook.ID)}},
			{Name: "topic", ValueCanonical: ptr(st.Topic)},
			{Name: "status", ValueCode: ptr(subStatus)},
			{Name: "type", ValueCode: ptr(typ)},
			{Name: "events-since-subscription-start", ValueString: ptr(itoa(events))},
		},
	}
}

// bundle wraps a status and its entries as a notification bundle.
func (s *Server) bundle(hook alerts.Webhook, status fhir.Parameters, more ...fhir.BundleEntry) fhir.Bundle {
	raw, _ := json.Marshal(status)
	first := fhir.BundleEntry{
		FullUrl:  ptr("urn:uuid:" + *status.Id),
		Resource: raw,
		Request:  &fhir.BundleEntryRequest{Method: fhir.HTTPVerbGET, Url: s.base(nil) + "/Subscription/" + hook.ID + "/$status"},
		Response: &fhir.BundleEntryResponse{Status: "200"},
	}
	return fhir.Bundle{
		Meta:      &fhir.Meta{Profile: []string{profileNotification}},
		Type:      fhir.BundleTypeHistory,
		Timestamp: instant(s.cfg.Now()),
		Entry:     append([]fhir.BundleEntry{first}, more...),
	}
}

// notification is the bundle that tells a subscription of an alert.
func (s *Server) notification(ctx context.Context, hook alerts.Webhook, a alerts.Alert, number uint64) (fhir.Bundle, error) {
	var st settings
	json.Unmarshal(hook.Settings, &st)
	status := s.status(hook, "event-notification", number, "active")
	event := fhir.ParametersParameter{Name: "notification-event", Part: []fhir.ParametersParameter{
		{Name: "event-number", ValueString: ptr(itoa(number))},
		{Name: "timestamp", ValueInstant: instant(a.RecordedAt)},
	}}
	if st.Content == "empty" {
		status.Parameter = append(status.Parameter, event)
		return s.bundle(hook, status), nil
	}
	history, err := s.cfg.Store.Log().LoadUpTo(ctx, a.Pathway, a.EventSeq)
	if err != nil {
		return fhir.Bundle{}, err
	}
	if len(history) == 0 {
		return fhir.Bundle{}, errors.New("fhir: the alert's pathway is not readable yet")
	}
	f := fold(history)
	k, key := focusOf(f, hook.Org, a)
	var more []fhir.BundleEntry
	if k != nil {
		v, meta, ok := k.render(s, f, key)
		if ok {
			id := resourceID(v)
			event.Part = append(event.Part, fhir.ParametersParameter{Name: "focus", ValueReference: &fhir.Reference{Reference: ptr(s.base(nil) + "/" + k.name + "/" + id)}})
			reader := httpapi.Principal{Org: hook.Org}
			if st.Content == "full-resource" && s.cfg.API.MayRead(reader, history) {
				raw, _ := json.Marshal(v)
				more = append(more, fhir.BundleEntry{
					FullUrl:  ptr(s.base(nil) + "/" + k.name + "/" + id),
					Resource: raw,
					Request:  &fhir.BundleEntryRequest{Method: fhir.HTTPVerbPUT, Url: k.name + "/" + id},
					Response: &fhir.BundleEntryResponse{Status: "200", Etag: ptr(`W/"` + *meta.VersionId + `"`)},
				})
			}
		}
	}
	status.Parameter = append(status.Parameter, event)
	return s.bundle(hook, status, more...), nil
}

// focusOf names the resource an alert is about: the Task of an offer,
// else the addressee's EpisodeOfCare on the pathway, else the hospital
// stay.
func focusOf(f *folded, org events.OrgID, a alerts.Alert) (*kind, string) {
	if a.Offer != nil {
		if _, ok := f.handoff(a.Offer.ID); ok {
			return taskKind, offerKey(a.Offer.ID)
		}
	}
	if _, ok := f.episode(org); ok {
		return episodeKind, org.Token()
	}
	if len(f.stays) > 0 {
		return encounterKind, ""
	}
	return nil, ""
}

func resourceID(v any) string {
	raw, _ := json.Marshal(v)
	var id struct {
		ID string `json:"id"`
	}
	json.Unmarshal(raw, &id)
	return id.ID
}

// createSubscription registers a subscription as a webhook of the alert
// service with the FHIR format, sends the handshake, and answers the
// Subscription, active, with its signing secret (shown this once).
func (s *Server) createSubscription(w http.ResponseWriter, r *http.Request) {
	p := httpapi.PrincipalOf(r)
	if p.Operator || p.Org == "" {
		writeOutcome(w, r, problem(http.StatusForbidden, "forbidden", "", "a subscription belongs to an organisation: create it with the organisation's token"))
		return
	}
	b, err := readJSON(w, r)
	if err != nil {
		fail(w, r, err)
		return
	}
	sub, err := fhir.UnmarshalSubscription(b)
	if err != nil {
		writeOutcome(w, r, problem(http.StatusBadRequest, "malformed-json", "", "not a FHIR Subscription: "+err.Error()))
		return
	}
	st, t, err := checkSubscription(sub)
	if err != nil {
		fail(w, r, err)
		return
	}
	raw, _ := json.Marshal(st)
	hook, secret, err := s.cfg.Alerts.RegisterWith(r.Context(), p.Org, *sub.Channel.Endpoint, alerts.HookOptions{Kinds: t.kinds, Format: Format, Settings: raw})
	var ve *events.ValidationError
	if errors.As(err, &ve) {
		writeOutcome(w, r, problem(http.StatusUnprocessableEntity, "invalid-field", "Subscription.channel.endpoint", ve.Reason))
		return
	}
	if errors.Is(err, alerts.ErrTooManyWebhooks) {
		writeOutcome(w, r, problem(http.StatusConflict, "conflict", "", err.Error()))
		return
	}
	if err != nil {
		fail(w, r, err)
		return
	}
	handshake, _ := json.Marshal(s.bundle(hook, s.status(hook, "handshake", 0, "requested")))
	if err := s.cfg.Alerts.Send(r.Context(), hook.ID, handshake, MediaType); err != nil {
		s.cfg.Alerts.Delete(context.WithoutCancel(r.Context()), p.Org, hook.ID)
		writeOutcome(w, r, problem(http.StatusUnprocessableEntity, "invalid-field", "Subscription.channel.endpoint", "the endpoint did not take the handshake: "+err.Error()))
		return
	}
	out := s.subscription(hook)
	out.Channel.Extension = append(out.Channel.Extension, fhir.Extension{Url: extSecret, ValueString: ptr(secret)})
	w.Header().Set("Location", s.base(r)+"/Subscription/"+hook.ID)
	writeResource(w, http.StatusCreated, out)
}

// checkSubscription reads what the facade supports of a Subscription.
func checkSubscription(sub fhir.Subscription) (settings, topic, error) {
	bad := func(field, reason string) error {
		return problem(http.StatusUnprocessableEntity, "invalid-field", field, reason)
	}
	t, ok := topicByURL(sub.Criteria)
	if !ok {
		return settings{}, t, bad("Subscription.criteria", "want a topic's canonical URL: "+topicBase+"{"+topicIDs()+"}")
	}
	if sub.Channel.Type != fhir.SubscriptionChannelTypeRestHook {
		return settings{}, t, bad("Subscription.channel.type", "only rest-hook is supported")
	}
	if sub.Channel.Endpoint == nil || *sub.Channel.Endpoint == "" {
		return settings{}, t, bad("Subscription.channel.endpoint", "missing")
	}
	if len(sub.Channel.Header) > 0 {
		return settings{}, t, bad("Subscription.channel.header", "not supported: verify the Stafet-Signature header of each notification instead (docs/alerts.md)")
	}
	if sub.End != nil {
		return settings{}, t, bad("Subscription.end", "not supported: delete the subscription when it is no longer wanted")
	}
	if p := sub.Channel.Payload; p != nil && *p != MediaType {
		return settings{}, t, bad("Subscription.channel.payload", "only application/fhir+json is supported")
	}
	content := "id-only"
	for _, e := range sub.Channel.Extension {
		if e.Url == extPayloadContent && e.ValueCode != nil {
			content = *e.ValueCode
		}
	}
	switch content {
	case "empty", "id-only", "full-resource":
	default:
		return settings{}, t, bad("Subscription.channel.extension", "payload content must be empty, id-only or full-resource")
	}
	for _, e := range sub.Extension {
		if e.Url == extFilterCriteria {
			return settings{}, t, bad("Subscription.criteria.extension", "filters are not supported: a subscription gets its organisation's notifications of the topic")
		}
	}
	return settings{Topic: t.url(), Content: content, Reason: sub.Reason}, t, nil
}

// subscription renders a registered FHIR subscription.
func (s *Server) subscription(hook alerts.Webhook) fhir.Subscription {
	var st settings
	json.Unmarshal(hook.Settings, &st)
	reason := st.Reason
	if reason == "" {
		reason = "notifications for " + string(hook.Org)
	}
	return fhir.Subscription{
		Id:       ptr(hook.ID),
		Meta:     &fhir.Meta{Profile: []string{profileSubscription}, LastUpdated: instant(hook.Created)},
		Status:   fhir.SubscriptionStatusActive,
		Reason:   reason,
		Criteria: st.Topic,
		Channel: fhir.SubscriptionChannel{
			Type:      fhir.SubscriptionChannelTypeRestHook,
			Endpoint:  ptr(hook.URL),
			Payload:   ptr(MediaType),
			Extension: []fhir.Extension{},
		},
	}
}

// hookOf reads one of the caller's FHIR subscriptions.
func (s *Server) hookOf(r *http.Request) (alerts.Webhook, error) {
	p := httpapi.PrincipalOf(r)
	org := p.Org
	if p.Operator {
		org = ""
	}
	hook, err := s.cfg.Alerts.Hook(r.Context(), org, r.PathValue("id"))
	if errors.Is(err, alerts.ErrNoWebhook) || (err == nil && hook.Format != Format) {
		return hook, problem(http.StatusNotFound, "not-found", "id", "no such Subscription")
	}
	return hook, err
}

func (s *Server) readSubscription(w http.ResponseWriter, r *http.Request) {
	hook, err := s.hookOf(r)
	if err != nil {
		fail(w, r, err)
		return
	}
	v := s.subscription(hook)
	v.Channel.Extension = nil
	writeResource(w, http.StatusOK, v)
}

func (s *Server) deleteSubscription(w http.ResponseWriter, r *http.Request) {
	hook, err := s.hookOf(r)
	if err != nil {
		fail(w, r, err)
		return
	}
	if err := s.cfg.Alerts.Delete(r.Context(), hook.Org, hook.ID); err != nil {
		fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// listSubscriptions answers the caller's subscriptions (the operator's:
// everyone's).
func (s *Server) listSubscriptions(w http.ResponseWriter, r *http.Request) {
	if err := onlyParams(r.URL.Query()); err != nil {
		fail(w, r, err)
		return
	}
	p := httpapi.PrincipalOf(r)
	org := p.Org
	if p.Operator {
		org = ""
	}
	hooks, err := s.cfg.Alerts.List(r.Context(), org)
	if err != nil {
		fail(w, r, err)
		return
	}
	var page []any
	for _, h := range hooks {
		if h.Format == Format {
			v := s.subscription(h)
			v.Channel.Extension = nil
			page = append(page, v)
		}
	}
	writeResource(w, http.StatusOK, s.searchset(r, &query{count: len(page)}, page, "", nil))
}

// subscriptionStatus answers $status: how many events the subscription
// has been told of.
func (s *Server) subscriptionStatus(w http.ResponseWriter, r *http.Request) {
	hook, err := s.hookOf(r)
	if err != nil {
		fail(w, r, err)
		return
	}
	n, err := s.cfg.Alerts.Delivered(r.Context(), hook.ID)
	if err != nil {
		fail(w, r, err)
		return
	}
	raw, _ := json.Marshal(s.status(hook, "query-status", n, "active"))
	b := fhir.Bundle{Type: fhir.BundleTypeSearchset, Timestamp: instant(s.cfg.Now()), Entry: []fhir.BundleEntry{{
		FullUrl: ptr(s.base(r) + "/Subscription/" + hook.ID + "/$status"), Resource: raw,
		Search: &fhir.BundleEntrySearch{Mode: ptr(fhir.SearchEntryModeMatch)},
	}}}
	writeResource(w, http.StatusOK, b)
}
