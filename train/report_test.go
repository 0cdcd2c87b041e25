package train

import (
	"strings"
	"testing"
)

func TestTableShowsPublishedFiguresOnlyForTheirExperiment(t *testing.T) {
	res := &Results{Config: DefaultConfig()}
	if tab := Table(res); !strings.Contains(tab, "98.42 %") || !strings.Contains(tab, "chip 1") {
		t.Fatalf("reference configuration: table lacks the published figures or the chip:\n%s", tab)
	}
	for _, mutate := range []func(*Config){
		func(c *Config) { c.Dataset = "fashion-mnist" },
		func(c *Config) { c.Model = "mlp" },
		func(c *Config) { c.Device = "mock" },
	} {
		res.Config = DefaultConfig()
		mutate(&res.Config)
		tab := Table(res)
		if strings.Contains(tab, "published") || strings.Contains(tab, "98.42") {
			t.Errorf("%+v: table shows the published MNIST figures:\n%s", res.Config, tab)
		}
		if res.Config.Device == "mock" && strings.Contains(tab, "chip 1") {
			t.Errorf("mock device: table names a chip:\n%s", tab)
		}
	}
}

func TestCurvesRenderAPNG(t *testing.T) {
	res := &Results{Config: DefaultConfig()}
	res.History.Float = []EpochStats{{Epoch: 1, Loss: 0.5, TestAcc: 0.9}, {Epoch: 2, Loss: 0.3, TestAcc: 0.95}}
	res.History.HIL = []EpochStats{{Epoch: 1, Loss: 0.2, TestAcc: 0.96}}
	res.Accuracy.ChipDirect.Trials = []float64{0.9}
	res.Accuracy.ChipDirect.Mean = 0.9
	png, err := Curves(res)
	if err != nil {
		t.Fatal(err)
	}
	if len(png) < 1000 || string(png[1:4]) != "PNG" {
		t.Fatalf("Curves returned %d bytes, not a PNG", len(png))
	}
}
