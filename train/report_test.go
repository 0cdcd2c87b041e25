package train

import (
	"strings"
	"testing"

	"github.com/analogloop/analogloop/analogmac"
	"github.com/analogloop/analogloop/models"
)

func referenceResults() *Results {
	res := &Results{Config: DefaultConfig(), Model: models.BSS2MNIST()}
	res.Device, _ = analogmac.Preset(analogmac.KindChip, 1)
	return res
}

func TestTableShowsPublishedFiguresOnlyForTheirExperiment(t *testing.T) {
	res := referenceResults()
	if tab := Table(res); !strings.Contains(tab, "98.42 %") || !strings.Contains(tab, "chip 1") {
		t.Fatalf("reference configuration: table lacks the published figures or the chip:\n%s", tab)
	}
	for name, mutate := range map[string]func(*Results){
		"fashion": func(r *Results) { r.Config.Dataset = "fashion-mnist" },
		"mlp":     func(r *Results) { r.Model = models.MLP(128) },
		"mock":    func(r *Results) { r.Device, _ = analogmac.Preset(analogmac.KindMock, 0) },
		"1 epoch": func(r *Results) { r.Config.Epochs, r.Config.HILEpochs = 1, 1 },
		"limited": func(r *Results) { r.Config.TestLimit = 100 },
	} {
		res := referenceResults()
		mutate(res)
		tab := Table(res)
		if strings.Contains(tab, "published") || strings.Contains(tab, "98.42") {
			t.Errorf("%s: table shows the published MNIST figures:\n%s", name, tab)
		}
		if name == "mock" && strings.Contains(tab, "chip 1") {
			t.Errorf("mock device: table names a chip:\n%s", tab)
		}
		if name == "1 epoch" && (strings.Contains(tab, "1 epochs") || !strings.Contains(tab, "(1 epoch)")) {
			t.Errorf("one epoch: %s", tab)
		}
	}
}

func TestCurvesRenderAPNG(t *testing.T) {
	res := referenceResults()
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
