import numpy as np
import pytest

from service.pipelines.alignment import ARCFACE_TEMPLATE, align_face, similarity_transform


def test_similarity_transform_recovers_a_known_rotation_scale_and_shift() -> None:
    angle, scale, shift = np.deg2rad(20), 1.7, np.array([5.0, -3.0])
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    source = ARCFACE_TEMPLATE * 2.0 + 10
    target = source @ (scale * rotation).T + shift
    matrix = similarity_transform(source, target)
    np.testing.assert_allclose(matrix[:, :2], scale * rotation, atol=1e-9)
    np.testing.assert_allclose(matrix[:, 2], shift, atol=1e-9)


def test_align_face_maps_the_landmarks_onto_the_template() -> None:
    # A picture whose landmark pixels are marked, scaled x2 and shifted from the template.
    pixels = np.zeros((400, 400, 3), np.uint8)
    landmarks = ARCFACE_TEMPLATE * 2.0 + [100, 80]
    for x, y in landmarks.round().astype(int):
        pixels[y - 2 : y + 3, x - 2 : x + 3] = 255
    aligned = align_face(pixels, landmarks)
    assert aligned.shape == (112, 112, 3)
    for x, y in ARCFACE_TEMPLATE.round().astype(int):
        assert aligned[y, x].min() > 100
    assert aligned[5, 5].max() == 0


@pytest.mark.parametrize(("scale", "shift"), [(2.0, 0.0), (3.0, 10.0)])
def test_align_face_maps_pixel_indices_as_opencvs_warp_affine(scale: float, shift: float) -> None:
    """OpenCV's alignCrop maps pixel indices (output x -> input scale * x + shift), not pixel
    centres as Pillow's affine does; at whole-number positions it copies input pixels exactly."""
    pixels = np.random.default_rng(0).integers(0, 256, (600, 600, 3), dtype=np.uint8)
    aligned = align_face(pixels, ARCFACE_TEMPLATE * scale + shift)
    rows, cols = np.mgrid[0:112, 0:112]
    sampled = pixels[(rows * scale + shift).astype(int), (cols * scale + shift).astype(int)]
    np.testing.assert_array_equal(aligned, sampled)
