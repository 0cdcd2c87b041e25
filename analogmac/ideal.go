package analogmac

// DefaultGain is the output in LSB per unit of input x weight and per send
// used by hxtorch's MNIST mock (MockParameter(gain=0.0018), background.md §1).
const DefaultGain = 0.0018

// Ideal is the exact integer data path of the chip without noise or
// deviations: per row block floor(gain * sends * x.w), clamped to int8, the
// blocks added digitally and clamped again. Column blocks need no special
// treatment: each output column is digitised on its own.
type Ideal struct {
	GainPerSend float64 `json:"gain_per_send"`

	eng engine
}

// NewIdeal returns an Ideal device with the default gain.
func NewIdeal() *Ideal { return &Ideal{GainPerSend: DefaultGain} }

// Gain implements Device.
func (d *Ideal) Gain() float64 { return d.GainPerSend }

// MatMul implements Device.
func (d *Ideal) MatMul(dst []int8, x []uint8, w []int8, s Shape, sends int, p Placement) error {
	if err := Check(dst, x, w, s, sends, p); err != nil {
		return err
	}
	if err := checkGain(d.GainPerSend); err != nil {
		return err
	}
	e := &d.eng
	e.mu.Lock()
	defer e.mu.Unlock()
	e.load(x, s)
	e.loadWeights(w)
	nb := e.products(s)
	e.finish(postIdeal, dst, s, nb, d.GainPerSend*float64(sends), 0, 0, 0)
	return nil
}
