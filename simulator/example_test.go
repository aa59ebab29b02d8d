package simulator_test

import (
	"fmt"

	"github.com/stafet/stafet/simulator"
)

func ExampleNewModel() {
	m, err := simulator.NewModel(1, simulator.ModelOptions{Clusters: []string{"aarhus"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	for range 3 {
		s := m.Next()
		fmt.Println(s.At.Format("15:04:05"), s.Channel, s.Kind, s.Org)
	}
	// Output:
	// 09:20:45 medcom STIN sor:991014000000000
	// 09:25:37 medcom Acknowledgement kommune:0751
	// 10:32:10 medcom STIN sor:991014000000000
}

func ExampleWorkload() {
	cmds := simulator.Workload(1, 4)
	for _, c := range cmds {
		fmt.Print(c.Source.System, ":")
		for _, p := range c.Payloads {
			fmt.Print(" ", p.Type())
		}
		fmt.Println()
	}
	// Output:
	// hl7v2: PathwayOpened PatientAdmitted
	// hl7v2: PathwayOpened PatientAdmitted
	// hl7v2: PathwayOpened PatientAdmitted
	// hl7v2: PathwayOpened PatientAdmitted
}
