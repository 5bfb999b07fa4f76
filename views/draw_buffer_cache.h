// The image a view last drew its token heat map into, reused while the pixel size, the visible token range
// and the data generation stay the same: hover and tooltips repaint often, and rebuilding a 128K-token map
// on each paint would not keep up. Exports at other sizes draw a fresh image (and keep it, as the next
// on-screen paint draws again).
#pragma once

#include "views/token_range.h"

#include <QImage>

namespace tsa::views {

class DrawBufferCache {
public:
    // The data or its colours changed: the next image() draws afresh.
    void invalidate() { ++m_generation; }

    // draw(pixels, range) -> QImage, called only when the cached image does not fit.
    template <class Draw>
    const QImage& image(const QSize& pixels, const TokenRange& range, Draw&& draw) const {
        if (m_image.isNull() || m_image.size() != pixels || m_range != range || m_drawn != m_generation) {
            m_image = draw(pixels, range);
            m_range = range;
            m_drawn = m_generation;
        }
        return m_image;
    }

private:
    quint64 m_generation = 1;
    mutable QImage m_image;
    mutable TokenRange m_range;
    mutable quint64 m_drawn = 0;
};

} // namespace tsa::views
