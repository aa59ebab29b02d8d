package fhir

import (
	"net/http"

	"github.com/samply/golang-fhir-models/fhir-models/fhir"
)

// capabilityDate is when the facade's capabilities last changed.
const capabilityDate = "2026-11-01"

func searchParam(name string, t fhir.SearchParamType, doc string) fhir.CapabilityStatementRestResourceSearchParam {
	return fhir.CapabilityStatementRestResourceSearchParam{Name: name, Type: t, Documentation: ptr(doc)}
}

func interactions(codes ...fhir.TypeRestfulInteraction) []fhir.CapabilityStatementRestResourceInteraction {
	out := make([]fhir.CapabilityStatementRestResourceInteraction, len(codes))
	for i, c := range codes {
		out[i] = fhir.CapabilityStatementRestResourceInteraction{Code: c}
	}
	return out
}

var asOfDoc = " Reads take ?as_of=<instant>&as_of_kind=recorded|valid or ?as_of_seq=<log sequence>: the resource as Stafet knew it then (recorded, the default) or as it stood then by what is known now (valid)."

// capabilities says exactly what the facade supports.
func (s *Server) capabilities(r *http.Request) fhir.CapabilityStatement {
	date := []fhir.CapabilityStatementRestResourceSearchParam{
		searchParam("_lastUpdated", fhir.SearchParamTypeDate, "when the pathway last changed; prefixes eq ne gt lt ge le sa eb"),
		searchParam("_count", fhir.SearchParamTypeNumber, "page size, 1 to 500 (default 50); Bundle.link next pages on"),
	}
	patient := searchParam("patient", fhir.SearchParamTypeReference, "the patient's pseudonym, or patient:identifier=urn:oid:1.2.208.176.1.2|<CPR>: the patient's open pathway, if the caller may see it; recorded in the access log")
	task := fhir.CapabilityStatementRestResource{
		Type:          fhir.ResourceTypeTask,
		Documentation: ptr("A handoff offer. Updates by the owner accept, reject (statusReason.text) start (in-progress) or complete it, by the requester cancel it; they run as Stafet's commands under its rules. If-Match is honoured." + asOfDoc),
		Interaction:   interactions(fhir.TypeRestfulInteractionRead, fhir.TypeRestfulInteractionVread, fhir.TypeRestfulInteractionUpdate, fhir.TypeRestfulInteractionHistoryInstance, fhir.TypeRestfulInteractionSearchType),
		Versioning:    ptr(fhir.ResourceVersionPolicyVersionedUpdate),
		ReadHistory:   ptr(true),
		UpdateCreate:  ptr(false),
		SearchParam: append([]fhir.CapabilityStatementRestResourceSearchParam{
			searchParam("owner", fhir.SearchParamTypeReference, "Organization/<id>, e.g. Organization/kommune-0751"),
			searchParam("requester", fhir.SearchParamTypeReference, "Organization/<id>"),
			searchParam("status", fhir.SearchParamTypeToken, "requested, accepted, rejected, cancelled, in-progress, completed"),
			patient,
			searchParam("period", fhir.SearchParamTypeDate, "Task.executionPeriod"),
		}, date...),
	}
	episode := fhir.CapabilityStatementRestResource{
		Type:          fhir.ResourceTypeEpisodeOfCare,
		Documentation: ptr("One organisation's responsibility for the patient on one pathway." + asOfDoc),
		Interaction:   interactions(fhir.TypeRestfulInteractionRead, fhir.TypeRestfulInteractionVread, fhir.TypeRestfulInteractionHistoryInstance, fhir.TypeRestfulInteractionSearchType),
		Versioning:    ptr(fhir.ResourceVersionPolicyVersioned),
		ReadHistory:   ptr(true),
		SearchParam: append([]fhir.CapabilityStatementRestResourceSearchParam{
			searchParam("organization", fhir.SearchParamTypeReference, "Organization/<id>"),
			searchParam("status", fhir.SearchParamTypeToken, "planned, active, finished, cancelled"),
			patient,
			searchParam("date", fhir.SearchParamTypeDate, "EpisodeOfCare.period"),
		}, date...),
	}
	encounter := fhir.CapabilityStatementRestResource{
		Type:          fhir.ResourceTypeEncounter,
		Documentation: ptr("The pathway's hospital stay." + asOfDoc),
		Interaction:   interactions(fhir.TypeRestfulInteractionRead, fhir.TypeRestfulInteractionVread, fhir.TypeRestfulInteractionHistoryInstance),
		Versioning:    ptr(fhir.ResourceVersionPolicyVersioned),
		ReadHistory:   ptr(true),
	}
	org := fhir.CapabilityStatementRestResource{
		Type:          fhir.ResourceTypeOrganization,
		Documentation: ptr("The directory's organisations, by Stafet id with '-' for ':' (kommune-0751, sor-6620000000001)."),
		Interaction:   interactions(fhir.TypeRestfulInteractionRead),
	}
	basic := fhir.CapabilityStatementRestResource{
		Type:          fhir.ResourceTypeBasic,
		Documentation: ptr("The subscription topics, as the Subscriptions Backport IG represents them in R4."),
		Interaction:   interactions(fhir.TypeRestfulInteractionRead, fhir.TypeRestfulInteractionSearchType),
		SearchParam:   []fhir.CapabilityStatementRestResourceSearchParam{searchParam("code", fhir.SearchParamTypeToken, "SubscriptionTopic")},
	}
	rest := fhir.CapabilityStatementRest{
		Mode:          fhir.RestfulCapabilityModeServer,
		Documentation: ptr("Every interaction but this one needs a bearer token: the operator's or an organisation's. An organisation reads what it is party to, as in Stafet's JSON API; every read of a pathway's resource is recorded in the access log. Errors are OperationOutcomes. JSON only."),
		Security:      &fhir.CapabilityStatementRestSecurity{Cors: ptr(false), Description: ptr("Authorization: Bearer <token> (stafet token issue -org <id>)")},
		Resource:      []fhir.CapabilityStatementRestResource{task, episode, encounter, org, basic},
	}
	if s.cfg.Alerts != nil {
		sub := fhir.CapabilityStatementRestResource{
			Type:             fhir.ResourceTypeSubscription,
			Documentation:    ptr("Topic-based subscriptions (Subscriptions R5 Backport IG): rest-hook channels, application/fhir+json, payload content empty, id-only or full-resource; no filters, no channel headers, no end. Notifications are signed (Stafet-Signature, docs/alerts.md) and held to the webhook egress policy."),
			Interaction:      interactions(fhir.TypeRestfulInteractionCreate, fhir.TypeRestfulInteractionRead, fhir.TypeRestfulInteractionDelete, fhir.TypeRestfulInteractionSearchType),
			SupportedProfile: []string{"http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-subscription"},
			Operation:        []fhir.CapabilityStatementRestResourceOperation{{Name: "status", Definition: "http://hl7.org/fhir/uv/subscriptions-backport/OperationDefinition/backport-subscription-status"}},
		}
		for _, t := range topics {
			sub.Extension = append(sub.Extension, fhir.Extension{
				Url: "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/capabilitystatement-subscriptiontopic-canonical", ValueCanonical: ptr(t.url()),
			})
		}
		rest.Resource = append(rest.Resource, sub)
	}
	return fhir.CapabilityStatement{
		Status:              fhir.PublicationStatusActive,
		Date:                capabilityDate,
		Publisher:           ptr("Stafet"),
		Kind:                fhir.CapabilityStatementKindInstance,
		Software:            &fhir.CapabilityStatementSoftware{Name: "Stafet"},
		Implementation:      &fhir.CapabilityStatementImplementation{Description: "Stafet's FHIR facade: cross-sector handoffs", Url: ptr(s.base(r))},
		FhirVersion:         fhir.FHIRVersion4_0_1,
		Format:              []string{MediaType, "json"},
		ImplementationGuide: []string{"http://hl7.org/fhir/uv/subscriptions-backport/ImplementationGuide/hl7.fhir.uv.subscriptions-backport|1.1.0"},
		Rest:                []fhir.CapabilityStatementRest{rest},
	}
}

func (s *Server) metadata(w http.ResponseWriter, r *http.Request) {
	if err := onlyParams(r.URL.Query(), "mode"); err != nil {
		fail(w, r, err)
		return
	}
	writeResource(w, http.StatusOK, s.capabilities(r))
}
