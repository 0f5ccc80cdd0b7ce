"""Pictures as SVG strings, drawn on the server from numbers and escaped text only:
slot areas and maps (:mod:`~pipeline.drawing.shapes`, :mod:`~pipeline.drawing.maps`,
:mod:`~pipeline.drawing.area`), charts (:mod:`~pipeline.drawing.charts`), shared SVG parts
(:mod:`~pipeline.drawing.svg`)."""
