-- Library/File > Plug-in Extras > Apply Finished Imagen Edits
require("Flow").applyFinished()
