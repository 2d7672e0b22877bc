"""Nova v2.1: the lab's nodes as servers, and volume attach/detach through Cinder's attachments."""
