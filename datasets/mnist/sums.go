package mnist

// The four files of a dataset, in the order Load reads them.
const (
	trainImages = "train-images-idx3-ubyte"
	trainLabels = "train-labels-idx1-ubyte"
	testImages  = "t10k-images-idx3-ubyte"
	testLabels  = "t10k-labels-idx1-ubyte"
)

var fileNames = [4]string{trainImages, trainLabels, testImages, testLabels}

// Built-in download mirrors. These constants are the only place that names
// download hosts.
const (
	mirrorMNISTOSSCI   = "https://ossci-datasets.s3.amazonaws.com/mnist/"
	mirrorMNISTCVDF    = "https://storage.googleapis.com/cvdf-datasets/mnist/"
	mirrorFashionRaw   = "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"
	mirrorFashionS3Web = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
)

// dataset describes where a dataset is searched and what its files hold.
type dataset struct {
	name      string
	envVar    string   // searched first when set
	extraDirs []string // searched after ./data/<name>
	mirrors   []string
	// SHA-256 of each file's decompressed contents (header included), so a
	// gzipped and a plain copy of the same data both match, whoever
	// compressed it: Debian's Fashion-MNIST .gz files, for one, differ
	// byte-wise from upstream's but decompress to the same data.
	sha256 map[string]string
}

var knownDatasets = map[string]*dataset{
	"mnist": {
		name:    "mnist",
		envVar:  "MNIST_DIR",
		mirrors: []string{mirrorMNISTOSSCI, mirrorMNISTCVDF},
		sha256: map[string]string{
			trainImages: "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
			trainLabels: "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
			testImages:  "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
			testLabels:  "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
		},
	},
	"fashion-mnist": {
		name:      "fashion-mnist",
		envVar:    "FASHION_MNIST_DIR",
		extraDirs: []string{"/usr/share/datasets/fashion-mnist"}, // Debian's dataset-fashion-mnist
		mirrors:   []string{mirrorFashionRaw, mirrorFashionS3Web},
		sha256: map[string]string{
			trainImages: "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
			trainLabels: "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
			testImages:  "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
			testLabels:  "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
		},
	},
}
