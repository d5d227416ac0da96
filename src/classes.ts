/** Fashion-MNIST class names, in label order (Xiao et al. 2017). The one list every part imports. */
export const FASHION_MNIST_CLASSES = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
] as const;

export const NUM_CLASSES = FASHION_MNIST_CLASSES.length;
export const IMAGE_SIZE = 28;
export const IMAGE_PIXELS = IMAGE_SIZE * IMAGE_SIZE;

/** File-system friendly name for a class ("T-shirt/top" -> "t-shirt-top"). */
export function classSlug(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
}
