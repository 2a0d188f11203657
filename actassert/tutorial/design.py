"""The tutorial's stimuli: what each experiment shows the network, with every parameter named."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from actassert.stimuli import gratings, hue_disc, shapes

__all__ = ["Design", "PHOTOS", "shape_label"]

#: scikit-image's photos shown in the natural-images section (``skimage.data.<name>()``).
PHOTOS = ("chelsea", "coffee", "astronaut", "rocket")


@dataclass(frozen=True)
class Design:
    """The stimuli of the three experiments; defaults are the report's.

    Attributes:
        side: image side in px (the network's input size).
        hues: number of hues on the circle (colour experiment).
        disc_radius: hue-disc radius as a fraction of the side.
        size_steps_per_octave: sampling density of shape sizes.
        smallest: smallest shape size as a fraction of the side (8 px at 224).
        largest: largest shape size as a fraction of the side.
        shapes: the shape kinds of the size experiment.
        orientations: number of grating orientations over 180 degrees.
        frequencies: grating spatial frequencies, cycles per image.
        phases: grating phases, degrees; each kernel keeps its largest response over them (so a
            simple-cell-like kernel is not averaged away).
        greys: grey levels of the achromatic reference discs (the colour experiment), drawn
            like the hue discs; the background itself is the reference of the same luma.
        min_index: the index from which a kernel counts as selective.
        min_colour_ratio: a colour-selective kernel answers its best hue at least this many
            times more than its best grey disc (above the blank).
    """

    side: int = 224
    hues: int = 24
    disc_radius: float = 0.25
    size_steps_per_octave: int = 3
    smallest: float = 8 / 224
    largest: float = 0.8
    shapes: tuple[str, ...] = ("circle", "square", "triangle")
    orientations: int = 8
    frequencies: tuple[float, ...] = (4.0, 8.0, 16.0, 32.0)
    phases: tuple[float, ...] = (0.0, 90.0, 180.0, 270.0)
    greys: tuple[float, ...] = (0.25, 0.75)
    min_index: float = 0.3
    min_colour_ratio: float = 2.0

    def sizes(self) -> list[float]:
        """Shape sizes in px: steps of ``1/size_steps_per_octave`` octave, rounded to whole px."""
        first = max(4.0, self.smallest * self.side)
        out: list[float] = []
        i = 0
        while first * 2 ** (i / self.size_steps_per_octave) <= self.largest * self.side:
            size = float(round(first * 2 ** (i / self.size_steps_per_octave)))
            if size not in out:
                out.append(size)
            i += 1
        return out

    def spatial_frequencies(self) -> list[float]:
        """``frequencies`` up to the Nyquist limit of ``side`` (half a cycle per pixel)."""
        usable = [f for f in self.frequencies if f <= self.side / 2]
        if not usable:
            raise ValueError(f"frequencies {self.frequencies} are all above the Nyquist limit "
                             f"{self.side / 2:g} of {self.side}-px images; give lower ones")
        return usable

    def hue_discs(self, device: Any = None) -> Any:
        """``hues`` discs as bright as the grey background (``luminance="matched"``)."""
        step = 360.0 / self.hues
        return hue_disc([i * step for i in range(self.hues)], size=self.side,
                        radius=self.disc_radius, luminance="matched", device=device)

    def grey_discs(self, device: Any = None) -> Any:
        """Achromatic discs of the hue discs' size at each of ``greys`` (saturation 0)."""
        return hue_disc([0.0], size=self.side, radius=self.disc_radius, saturation=0.0,
                        value=list(self.greys), device=device)

    def colour_set(self, device: Any = None) -> Any:
        """The hue discs, then the grey reference discs (``params["saturation"]`` tells them
        apart)."""
        return self.hue_discs(device) + self.grey_discs(device)

    def shape_set(self, device: Any = None) -> Any:
        """White shapes of every kind and size on mid grey, centred."""
        return shapes(list(self.shapes), self.sizes(), colour=1.0, background=0.5,
                      size=self.side, device=device)

    def grating_set(self, device: Any = None) -> Any:
        """Full-field sinusoidal gratings: orientation x spatial frequency x phase."""
        step = 180.0 / self.orientations
        return gratings([i * step for i in range(self.orientations)], self.spatial_frequencies(),
                        list(self.phases), size=self.side, device=device)

    def describe(self) -> dict[str, str]:
        """One line per experiment naming its stimuli and their parameters (for the header)."""
        sizes = self.sizes()
        return {
            "colour": (f"{self.hues} discs of radius {self.disc_radius:g} of the side "
                       f"({self.disc_radius * self.side:.0f} px), hues 0..{360 - 360 / self.hues:g}"
                       " degrees in equal steps, each as bright (Rec. 601 luma) as the mid-grey "
                       "background; and grey discs of levels "
                       f"{', '.join(f'{g:g}' for g in self.greys)} as achromatic references"),
            "size": (f"white {', '.join(self.shapes)} on mid grey, {len(sizes)} sizes from "
                     f"{sizes[0]:g} to {sizes[-1]:g} px ({self.size_steps_per_octave} per octave; "
                     "size = side of the bounding box), centred"),
            "orientation": (f"full-field sinusoidal gratings, {self.orientations} orientations "
                            f"0..{180 - 180 / self.orientations:g} degrees x spatial frequencies "
                            f"{', '.join(f'{f:g}' for f in self.spatial_frequencies())} "
                            "cycles per image x "
                            f"phases {', '.join(f'{p:g}' for p in self.phases)} degrees, "
                            "contrast 1 around mid grey"),
            "blank": ("each set's own background, the mid-grey image with no disc, shape or "
                      "grating, shown once per network and read out like the stimuli"),
        }


def shape_label(stimuli: Any, i: int) -> str:
    """A readable label of stimulus ``i``: ``circle 32 px``, ``hue 90°``, ``45° 8 c/img``."""
    params = stimuli.params
    if "kind" in params:
        kind = stimuli.categories["kind"][int(params["kind"][i])]
        return f"{kind} {float(params['size'][i]):g} px"
    if "hue" in params:
        return f"hue {float(params['hue'][i]):g}°"
    if "orientation" in params:
        return (f"{float(params['orientation'][i]):g}° "
                f"{float(params['spatial_frequency'][i]):g} c/img")
    return stimuli.label(i)
