package study

import (
	"github.com/analogloop/analogloop/analogmac"
	"github.com/analogloop/analogloop/chiptime"
	"github.com/analogloop/analogloop/train"
)

// Published are the BrainScaleS-2 MNIST figures of Weis et al. 2020
// (docs/background.md §1), in percent.
var Published = PublishedFigures{Software: 98.42, ChipDirect: 91.54, ChipInLoop: 98.0}

// PublishedFigures are the published accuracies, percent.
type PublishedFigures struct {
	Software   float64 `json:"software"`
	ChipDirect float64 `json:"chip_no_retraining"`
	ChipInLoop float64 `json:"chip_in_the_loop"`
}

// Results is results.json.
type Results struct {
	Command string `json:"command"`
	// WallSeconds is the study's wall time from data loaded to the last
	// file written; Resumed says it was continued after an interruption
	// (WallSeconds then adds the sessions' time up to their last finished
	// stage).
	WallSeconds float64        `json:"wall_seconds"`
	Resumed     bool           `json:"resumed"`
	Complete    bool           `json:"complete"`
	Config      Config         `json:"config"`
	Data        train.DataInfo `json:"data"`
	// OwnChip describes the own chip; UnseenChips lists the unseen seeds.
	OwnChip     analogmac.Spec `json:"own_chip"`
	UnseenChips []uint64       `json:"unseen_chips"`
	// Float is the float network in float on the host and on the ideal
	// integer device.
	Float struct {
		Float   float64            `json:"float"`
		Ideal   float64            `json:"ideal"`
		History []train.EpochStats `json:"history"`
	} `json:"float"`
	// Calibration is the own chip's characterisation.
	Calibration CalibrationInfo  `json:"calibration"`
	Strategies  []Strategy       `json:"strategies"`
	Sweep       []SweepPoint     `json:"sweep"`
	Findings    SweepFindings    `json:"sweep_findings"`
	Published   PublishedFigures `json:"published"`
	Targets     []Target         `json:"targets"`
	// Machine is where the study ran and how busy the machine was.
	Machine Machine        `json:"machine"`
	Timing  chiptime.Model `json:"timing_model"`
	// TimingNote says what the estimates cover.
	TimingNote string   `json:"timing_note"`
	Files      []string `json:"files"`
}

// CalibrationInfo summarises a characterisation.
type CalibrationInfo struct {
	File    string          `json:"file"`
	Plot    string          `json:"plot"`
	Chip    uint64          `json:"chip"`
	Counts  chiptime.Counts `json:"counts"`
	Seconds float64         `json:"chip_seconds"`
	// Wall is the simulation's wall time of the characterisation and fit.
	Wall float64 `json:"wall_seconds"`
}

// Strategy is one row of the table.
type Strategy struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description"`
	// Own is the accuracy on the own chip, over Config.Train.Trials.
	Own train.Trials `json:"own_chip"`
	// Unseen holds one entry per unseen chip, each over UnseenTrials;
	// UnseenMean and UnseenStd are over the chips' means.
	Unseen     []train.Trials `json:"unseen_chips"`
	UnseenMean float64        `json:"unseen_mean"`
	UnseenStd  float64        `json:"unseen_std"`
	UnseenMin  float64        `json:"unseen_min"`
	UnseenMax  float64        `json:"unseen_max"`
	// Ideal is the trained network on the ideal integer device.
	Ideal float64 `json:"ideal"`
	// ChipImages counts the training images whose forward pass ran on a
	// physical chip (simulated random chips of variation-aware training
	// and the twin are not chips).
	ChipImages int64 `json:"chip_images"`
	// Characterized counts the chip characterisations the strategy needs
	// before deployment on the own chip (each unseen chip needs its own
	// when CalibratedEval).
	Characterized int `json:"characterizations"`
	// Counts are the chip's work in training and characterisation; Seconds
	// their estimated chip time (Config.Timing).
	Counts  chiptime.Counts `json:"chip_counts"`
	Seconds float64         `json:"chip_seconds"`
	// PerImage is the estimated chip time of one inference on the own chip,
	// from the counts of its evaluation: integrations and events only. The
	// weights are written once per network, not per image (and how often
	// an evaluation programs them depends on how many trials ran at once).
	PerImage PerImage `json:"per_image"`
	// CalibratedEval: every chip the network runs on, own and unseen, is
	// characterised first and its outputs corrected on the host.
	CalibratedEval bool `json:"calibrated_eval"`
	// UnseenCharSeconds is the chip time of characterising one unseen chip
	// (mean), for CalibratedEval.
	UnseenCharSeconds float64            `json:"unseen_characterization_chip_seconds,omitempty"`
	History           []train.EpochStats `json:"history,omitempty"`
	// Extra holds intermediate accuracies (the twin's network on its chip
	// before any chip epoch), percent-free fractions.
	Extra        map[string]float64 `json:"extra,omitempty"`
	Export       string             `json:"export"`
	TrainSeconds float64            `json:"train_wall_seconds"`
}

// PerImage is an inference's estimated chip time.
type PerImage struct {
	Integrations float64 `json:"integrations"`
	Events       float64 `json:"events"`
	Seconds      float64 `json:"seconds"`
}

// SweepPoint is one scale of the deviation sweep, on the own chip.
type SweepPoint struct {
	Scale      float64              `json:"scale"`
	Chip       analogmac.ChipConfig `json:"chip"`
	Direct     train.Trials         `json:"direct"`
	Calibrated train.Trials         `json:"calibrated"`
	InLoop     train.Trials         `json:"in_the_loop"`
}

// SweepFindings answer the sweep's question: how large must the
// deviations be to lose what the 2020 chip lost, and does the loop win it
// back there.
type SweepFindings struct {
	// PublishedDrop is the published loss without retraining, points.
	PublishedDrop float64 `json:"published_drop_points"`
	// Scale is where direct transfer loses PublishedDrop points against
	// the float network (linear interpolation between sweep points); 0 and
	// Reached false when no scale of the sweep loses that much.
	Scale   float64 `json:"scale"`
	Reached bool    `json:"reached"`
	// InLoop and Calibrated are the interpolated accuracies there.
	InLoop     float64 `json:"in_the_loop"`
	Calibrated float64 `json:"calibrated"`
	Text       string  `json:"text"`
}

// Target is one of the targets and whether it was met.
type Target struct {
	Name  string `json:"name"`
	Want  string `json:"want"`
	Got   string `json:"got"`
	Met   bool   `json:"met"`
	Notes string `json:"notes,omitempty"`
}

// Machine describes the machine a study ran on: its processors and its
// load average (over 1 minute, Linux's /proc/loadavg; 0 where unknown) at
// the start and the end of the run, since other work on a shared machine
// changes the wall time.
type Machine struct {
	NumCPU     int     `json:"num_cpu"`
	GOMAXPROCS int     `json:"gomaxprocs"`
	LoadStart  float64 `json:"load_avg_1min_start"`
	LoadEnd    float64 `json:"load_avg_1min_end"`
}
