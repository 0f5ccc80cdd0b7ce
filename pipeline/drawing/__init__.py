"""Pictures as SVG strings, drawn on the server from numbers and escaped text only:
slot areas and map panels (:mod:`~pipeline.drawing.shapes`), the national map
(:mod:`~pipeline.drawing.maps`), the sheet's thumbnails (:mod:`~pipeline.drawing.thumbnails`),
a slot's area map (:mod:`~pipeline.drawing.area`), state lines and place names
(:mod:`~pipeline.drawing.landmarks`), charts (:mod:`~pipeline.drawing.charts`), shared SVG
parts (:mod:`~pipeline.drawing.svg`)."""
